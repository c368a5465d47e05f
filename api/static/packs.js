/* 党课随身听 pages. The list and a pack's page: a pack being built asks GET /api/v1/packs/{id} every 2 s and
 * moves its progress bar; once the build is over the page reloads to show the download button (without
 * JavaScript a <noscript> refresh does that). The form: choosing a quarter, category, series or lesson picks
 * its option, ticked lessons show their place in the pack, and a filter narrows the list.
 * Plain ES5 for old Android browsers; nothing from the server goes in as markup. */
(function () {
  'use strict';

  var get = window.weike.getJson;

  var POLL_MS = 2000;

  /* One building pack: follow its progress until it is ready or failed, then show the page as it is now. */
  function follow(box) {
    var id = box.getAttribute('data-pack-progress');
    var bar = box.querySelector('progress');
    var percent = box.querySelector('[data-pack-percent]');
    var misses = 0;
    function poll() {
      // A building pack's JSON is sent with no-cache (api/routes/packs.py), so every poll sees the news.
      get('/api/v1/packs/' + encodeURIComponent(id), function (status, pack) {
        if (status === 200 && pack) {
          misses = 0;
          if (pack.status !== 'building') { window.location.reload(); return; }
          if (bar) { bar.value = pack.progress; bar.textContent = pack.progress + '%'; }
          if (percent) { percent.textContent = String(pack.progress); }
        } else {
          misses += 1;  // a weak signal: ask less often, never give up
        }
        window.setTimeout(poll, POLL_MS * Math.min(1 + misses, 5));
      });
    }
    window.setTimeout(poll, POLL_MS);
  }

  var boxes = document.querySelectorAll('[data-pack-progress]');
  for (var b = 0; b < boxes.length; b++) { follow(boxes[b]); }

  var form = document.getElementById('pack-form');
  if (!form) { return; }

  function choose(source) {
    var radio = form.querySelector('input[name=source][value=' + source + ']');
    if (radio) { radio.checked = true; }
    manualFits();
  }

  /* 按勾选顺序 only means something for ticked lessons. */
  function manualFits() {
    var picked = form.querySelector('input[name=source][value=picked]');
    var manual = form.querySelector('input[name=order][value=manual]');
    if (!manual || !picked) { return; }
    manual.disabled = !picked.checked;
    if (manual.disabled && manual.checked) { form.querySelector('input[name=order][value=""]').checked = true; }
  }

  var sources = form.querySelectorAll('.source');
  for (var s = 0; s < sources.length; s++) {
    (function (block) {
      var source = block.getAttribute('data-source');
      var select = block.querySelector('select');
      if (select) {
        select.addEventListener('change', function () { choose(source); });
        select.addEventListener('focus', function () { choose(source); });
      }
    }(sources[s]));
  }
  var radios = form.querySelectorAll('input[name=source]');
  for (var r = 0; r < radios.length; r++) { radios[r].addEventListener('change', manualFits); }
  manualFits();

  /* The title follows the quarter while it is still the one the page suggested. */
  var quarter = document.getElementById('pack-quarter');
  var title = document.getElementById('pack-title');
  if (quarter && title) {
    quarter.addEventListener('change', function () {
      var suggested = [];
      for (var i = 0; i < quarter.options.length; i++) { suggested.push(quarter.options[i].getAttribute('data-title')); }
      if (!title.value || suggested.indexOf(title.value) >= 0) {
        title.value = quarter.options[quarter.selectedIndex].getAttribute('data-title');
      }
    });
  }

  /* Ticked lessons, in the order they were ticked: shown as 第N节 and sent as picked_order. */
  var orderField = document.getElementById('picked-order');
  var boxesIn = form.querySelectorAll('input[name=lesson_ids]');
  var ticked = [];
  var byId = {};
  for (var k = 0; k < boxesIn.length; k++) { byId[boxesIn[k].value] = boxesIn[k]; }
  var kept = orderField && orderField.value ? orderField.value.split(',') : [];
  for (var m = 0; m < kept.length; m++) { if (byId[kept[m]] && byId[kept[m]].checked) { ticked.push(kept[m]); } }
  for (var n = 0; n < boxesIn.length; n++) {
    if (boxesIn[n].checked && ticked.indexOf(boxesIn[n].value) < 0) { ticked.push(boxesIn[n].value); }
  }

  function numberTicked() {
    for (var i = 0; i < boxesIn.length; i++) {
      var place = ticked.indexOf(boxesIn[i].value);
      var mark = boxesIn[i].parentNode.querySelector('.pick-n');
      if (mark) { mark.textContent = place >= 0 ? '第' + (place + 1) + '节' : ''; }
    }
    if (orderField) { orderField.value = ticked.join(','); }
  }

  for (var t = 0; t < boxesIn.length; t++) {
    boxesIn[t].addEventListener('change', function (event) {
      var id = event.target.value;
      var at = ticked.indexOf(id);
      if (event.target.checked && at < 0) { ticked.push(id); }
      if (!event.target.checked && at >= 0) { ticked.splice(at, 1); }
      if (event.target.checked) { choose('picked'); }
      numberTicked();
    });
  }
  numberTicked();

  var filter = document.getElementById('pick-filter');
  var items = form.querySelectorAll('#pick-list li');
  if (filter && items.length) {
    filter.hidden = false;
    filter.addEventListener('input', function () {
      var words = filter.value.toLowerCase().split(/\s+/).filter(function (w) { return w; });
      for (var i = 0; i < items.length; i++) {
        var text = (items[i].getAttribute('data-text') || '').toLowerCase();
        var shown = words.every(function (w) { return text.indexOf(w) >= 0; });
        items[i].hidden = !shown && !items[i].querySelector('input').checked;  // a ticked lesson stays in view
      }
    });
  }
}());
