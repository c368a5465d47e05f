/* 我的上传: the lessons uploaded from this phone (remembered in localStorage) and their processing progress.
 * Plain ES5 for old Android browsers. */
(function () {
  'use strict';

  var MINE_KEY = 'weike.myUploads';
  var POLL_MS = 5000;
  var STATUS = { queued: '排队等待处理', processing: '正在处理', ready: '处理完成，可以播放', failed: '处理失败' };
  var REVIEW = { pending: '待审核', approved: '审核通过', rejected: '未通过', revision: '需要修改' };

  function load(key, fallback) {
    try { var v = localStorage.getItem(key); return v ? JSON.parse(v) : fallback; } catch (e) { return fallback; }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  function reviewText(lesson) {
    var review = lesson.review;
    if (!review) { return '审核：等待县里审核（审核功能开通后在这里显示结果和原因）'; }
    var text = '审核：' + (REVIEW[review.state] || review.state);
    if (review.reason) { text += '。原因：' + review.reason; }
    return text;
  }

  function render(item, lesson, node) {
    node.innerHTML = '';
    node.appendChild(el('div', 'title', lesson ? lesson.title : item.title));
    node.appendChild(el('div', 'meta', '上传于 ' + (item.uploadedAt || '').slice(0, 10)));
    if (!lesson) {
      node.appendChild(el('div', 'status', '正在查询处理进度…'));
      return false;
    }
    var text = STATUS[lesson.status] || lesson.status;
    if (lesson.status === 'processing' || lesson.status === 'queued') { text += ' ' + lesson.progress + '%'; }
    if (lesson.status === 'failed' && lesson.error) { text += '：' + lesson.error.message; }
    node.appendChild(el('div', 'status ' + lesson.status, text));
    var bar = el('div', 'bar');
    var fill = el('span');
    fill.style.width = (lesson.status === 'ready' ? 100 : lesson.progress) + '%';
    bar.appendChild(fill);
    node.appendChild(bar);
    node.appendChild(el('div', 'review', reviewText(lesson)));
    return lesson.status === 'ready' || lesson.status === 'failed';
  }

  function poll(item, node) {
    var request = new XMLHttpRequest();
    request.open('GET', '/api/v1/lessons/' + encodeURIComponent(item.lessonId));
    request.onload = function () {
      var settled = false;
      if (request.status === 200) {
        try { settled = render(item, JSON.parse(request.responseText), node); } catch (e) { settled = false; }
      } else if (request.status === 404) {
        node.appendChild(el('div', 'status failed', '找不到这节课（可能已被删除）'));
        settled = true;
      }
      if (!settled) { setTimeout(function () { poll(item, node); }, POLL_MS); }
    };
    request.onerror = function () { setTimeout(function () { poll(item, node); }, POLL_MS * 2); };
    request.send();
  }

  function showUnfinished() {
    if (!window.tus || !tus.defaultOptions || !tus.defaultOptions.urlStorage) { return; }
    tus.defaultOptions.urlStorage.findAllUploads().then(function (all) {
      var box = document.getElementById('unfinished');
      all.forEach(function (item) {
        var name = (item.metadata && (item.metadata.title || item.metadata.filename)) || '未命名';
        var note = el('p', 'banner', '《' + name + '》还没有传完。');
        var link = el('a', '', '回到上传页，选择同一个文件继续');
        link.href = '/upload';
        note.appendChild(link);
        box.appendChild(note);
      });
    });
  }

  var mine = load(MINE_KEY, []);
  var list = document.getElementById('lessons');
  document.getElementById('empty').hidden = mine.length > 0;
  mine.forEach(function (item) {
    var node = el('li');
    node.setAttribute('data-lesson-id', item.lessonId);
    list.appendChild(node);
    render(item, null, node);
    poll(item, node);
  });
  showUnfinished();
}());
