/* Members' stars on a lesson's page (api/routes/ratings.py). Without JavaScript the form posts and the page comes
   back; with it, the lesson's mean and the member's own stars are fetched, and a tap on a star sends the rating
   (PUT, with the page's CSRF token) and shows the new mean. Plain ES5. */
(function () {
  'use strict';
  var box = document.getElementById('rating');
  if (!box || !window.XMLHttpRequest) { return; }
  var url = box.getAttribute('data-api');
  var figure = document.getElementById('rating-figure');
  var form = document.getElementById('rating-form');
  var status = document.getElementById('rating-status');
  var meta = document.querySelector('meta[name="csrf-token"]');

  function show(body) {
    figure.textContent = body.count ? '平均 ' + body.average.toFixed(1) + ' 星 · ' + body.count + ' 人评分' : '还没有人评分';
    if (form && body.mine) {
      var mine = document.getElementById('star-' + body.mine);
      if (mine) { mine.checked = true; }
    }
  }

  function send(method, data, done) {
    var request = new XMLHttpRequest();
    request.open(method, url, true);
    request.setRequestHeader('Accept', 'application/json');
    if (data) {
      request.setRequestHeader('Content-Type', 'application/json');
      if (meta) { request.setRequestHeader('X-CSRF-Token', meta.getAttribute('content')); }
    }
    request.onload = function () {
      var body = null;
      try { body = JSON.parse(request.responseText); } catch (e) { body = null; }
      done(request.status, body);
    };
    request.onerror = function () { done(0, null); };
    request.send(data ? JSON.stringify(data) : null);
  }

  send('GET', null, function (code, body) { if (code === 200 && body) { show(body); } });
  if (!form) { return; }
  var button = document.getElementById('rating-submit');
  if (button) { button.hidden = true; }  // a tap on a star is enough

  function rate(stars) {
    status.textContent = '正在提交…';
    send('PUT', { stars: stars }, function (code, body) {
      if (code === 200 && body) {
        show(body);
        status.textContent = '已评 ' + stars + ' 星，谢谢！';
      } else {
        status.textContent = (body && body.message) || '没有提交成功，请稍后再试。';
      }
    });
  }

  form.addEventListener('change', function (event) {
    if (event.target && event.target.name === 'stars') { rate(parseInt(event.target.value, 10)); }
  });
  form.addEventListener('submit', function (event) {
    var checked = form.querySelector('input[name="stars"]:checked');
    event.preventDefault();
    if (checked) { rate(parseInt(checked.value, 10)); }
  });
}());
