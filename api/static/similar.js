/* 审核台, copy detection: the lessons like this one (GET /api/v1/lessons/{id}/similar), best first, with their
 * scores per signal and the stretches that match; "对照播放" plays this lesson and the other side by side, each from
 * the start of the matching stretch. Text from the server only ever goes in through textContent. Plain ES5. */
(function () {
  'use strict';

  var section = document.getElementById('similar');
  if (!section) { return; }
  var el = window.weike.el, clock = window.weike.clock;
  var $ = function (id) { return document.getElementById(id); };
  var getJson = window.weike.getJson;
  var config = JSON.parse($('review-config').textContent);
  var STATES = { awaiting_review: '待审核', published: '已发布', rejected: '未通过', revision_requested: '待修改',
                 withdrawn: '已撤下' };
  var SIGNALS = [['transcript', '讲稿'], ['footage', '画面'], ['sound', '声音']];
  var thisPlayer = $('compare-this'), otherPlayer = $('compare-other');
  var current = null;  // {span, other}

  function percent(value) {
    return value === null || value === undefined ? '—' : Math.round(value * 100) + '%';
  }

  /* What a lesson plays at the desk: the smallest rendition, else its audio edition. */
  function mediaOf(lesson) {
    var renditions = lesson.assets.filter(function (a) { return a.kind === 'rendition'; });
    renditions.sort(function (a, b) { return (a.height || 0) - (b.height || 0); });
    if (lesson.media_kind !== 'audio' && renditions.length) { return renditions[0].url; }
    var audio = lesson.assets.filter(function (a) { return a.kind === 'audio_edition'; });
    return audio.length ? audio[0].url : null;
  }

  /* Load `src` (unless loaded) and stop at `seconds`. */
  function cue(player, src, seconds) {
    var at = function () { player.currentTime = seconds; };
    if (player.getAttribute('src') === src && player.readyState > 0) { player.pause(); at(); return; }
    player.addEventListener('loadedmetadata', function once() {
      player.removeEventListener('loadedmetadata', once);
      at();
    });
    player.setAttribute('src', src);
    player.load();
  }

  function again() {
    if (!current) { return; }
    cue(thisPlayer, config.player.src, current.span.start_s);
    cue(otherPlayer, current.otherSrc, current.span.other_start_s);
  }

  function compare(item, span, button) {
    if (!config.player.src) { return; }
    button.disabled = true;
    getJson('/api/v1/lessons/' + encodeURIComponent(item.lesson_id), function (status, lesson) {
      button.disabled = false;
      var src = status === 200 && lesson ? mediaOf(lesson) : null;
      if (!src) {
        $('similar-status').textContent = '另一节课暂时没有可以播放的文件。';
        $('similar-status').hidden = false;
        return;
      }
      current = { span: span, otherSrc: src };
      $('compare-what').textContent = '对照：本课 ' + clock(span.start_s) + '–' + clock(span.end_s) + ' ↔ 《' + item.title +
        '》 ' + clock(span.other_start_s) + '–' + clock(span.other_end_s);
      $('compare-other-name').textContent = '右：《' + item.title + '》';
      $('compare').hidden = false;
      again();
      $('compare').scrollIntoView({ block: 'nearest' });
    });
  }

  function row(item) {
    var li = el('li', 'similar-item');
    li.setAttribute('data-lesson', item.lesson_id);
    var head = el('div');
    var link = el('a', null, item.title);
    link.href = '/review/' + encodeURIComponent(item.lesson_id);
    head.appendChild(link);
    head.appendChild(el('span', 'sub', ' ' + (item.branch ? item.branch.name : '未填支部') + ' · ' +
                                          (STATES[item.review_state] || '处理中')));
    li.appendChild(head);
    var signals = SIGNALS.map(function (s) { return s[1] + ' ' + percent(item.signals[s[0]]); }).join('，');
    li.appendChild(el('div', 'reasons-line', '相似度 ' + percent(item.score) + '（' + signals + '）'));
    var spans = el('ul', 'note-lines');
    item.spans.forEach(function (span) {
      var line = el('li');
      line.appendChild(el('span', 'at', clock(span.start_s) + '–' + clock(span.end_s)));
      line.appendChild(document.createTextNode(' 对应对方 ' + clock(span.other_start_s) + '–' +
                                               clock(span.other_end_s) + ' '));
      var button = el('button', 'button small', '对照播放');
      button.type = 'button';
      button.addEventListener('click', function () { compare(item, span, button); });
      line.appendChild(button);
      spans.appendChild(line);
    });
    li.appendChild(spans);
    return li;
  }

  getJson(section.getAttribute('data-url'), function (status, items) {
    var note = $('similar-status');
    if (status !== 200 || !items) {
      note.textContent = status === 403 ? '没有查看查重结果的权限。' : '查重结果暂时无法载入，请稍后刷新。';
      return;
    }
    if (!items.length) {
      note.textContent = '没有发现相似的课程（处理完成后才会比对）。';
      return;
    }
    note.hidden = true;
    var list = $('similar-list');
    items.forEach(function (item) { list.appendChild(row(item)); });
  });

  $('compare-play').addEventListener('click', function () {
    if (thisPlayer.paused) { thisPlayer.play(); otherPlayer.play(); } else { thisPlayer.pause(); otherPlayer.pause(); }
  });
  $('compare-again').addEventListener('click', again);
  // Two players in one row of the desk: each takes half (CSSOM, which the page's CSP allows).
  [thisPlayer, otherPlayer].forEach(function (player) { player.parentNode.style.flex = '1 1 0'; });
  thisPlayer.parentNode.style.marginRight = '8px';
})();
