/* 审核台, one lesson: the player (360p first, 720p on request, subtitles on), the transcript beside it (edited in
 * place, saved as a new caption version), time-coded notes, the decision, and keyboard shortcuts. After a
 * decision the next lesson of the queue opens. Text from the server only ever goes in through textContent.
 * Plain ES5, like the other pages. */
(function () {
  'use strict';

  var el = window.weike.el, clock = window.weike.clock, typing = window.weike.typing;

  var config = JSON.parse(document.getElementById('review-config').textContent);
  var $ = function (id) { return document.getElementById(id); };
  var player = $('player');
  var DONE = { approve: '已通过', reject: '已标记为不通过', request_revision: '已退回支部修改', withdraw: '已撤下',
               republish: '已重新发布' };
  var busy = false;

  // --- small helpers -------------------------------------------------------------------------------------------

  /* JSON to and from the API; the login cookie goes along, state changes carry the CSRF token. */
  function call(method, url, body, done) {
    var request = new XMLHttpRequest();
    request.open(method, url);
    request.setRequestHeader('Accept', 'application/json');
    if (body !== null) {
      request.setRequestHeader('Content-Type', 'application/json');
      request.setRequestHeader('X-CSRF-Token', config.csrfToken);
    }
    request.onload = function () {
      var data = null;
      try { data = JSON.parse(request.responseText); } catch (e) { data = null; }
      done(request.status, data);
    };
    request.onerror = function () { done(0, null); };
    request.send(body !== null ? JSON.stringify(body) : null);
  }

  function problem(status, data) {
    if (data && data.message) { return data.message; }
    if (!status) { return '网络连接失败，请检查网络后重试'; }
    return '操作没有成功（错误 ' + status + '），请稍后重试';
  }

  function show(node, text) {
    node.textContent = text || '';
    node.hidden = !text;
  }

  // --- the player ----------------------------------------------------------------------------------------------

  var sources = config.player.sources || {};
  var playing = config.player.label;

  function switchQuality() {
    var button = $('quality');
    var target = playing === config.player.label ? config.player.sharper : config.player.label;
    if (!player || !target || !sources[target]) { return; }
    var at = player.currentTime;
    var wasPaused = player.paused;
    player.src = sources[target];
    player.addEventListener('loadedmetadata', function resume() {
      player.removeEventListener('loadedmetadata', resume);
      player.currentTime = at;
      if (!wasPaused) { player.play(); }
    });
    player.load();
    playing = target;
    var sharp = target === config.player.sharper;
    $('quality-now').textContent = '正在播放 ' + target + (sharp ? '（清晰）' : '（省流量）');
    button.textContent = sharp ? '换回 ' + config.player.label + ' 省流量版' : '换成 ' + target + ' 清晰版';
  }

  function togglePlay() {
    if (!player) { return; }
    if (player.paused) { player.play(); } else { player.pause(); }
  }

  function seek(seconds, play) {
    if (!player) { return; }
    player.currentTime = seconds;
    if (play && player.paused) {
      var started = player.play();
      if (started && started['catch']) { started['catch'](function () { /* autoplay refused: stay paused */ }); }
    }
  }

  // --- time-coded notes ----------------------------------------------------------------------------------------

  var notes = [];

  function renderNotes(focusNote) {
    var list = $('notes');
    list.textContent = '';
    notes.forEach(function (note) {
      var item = el('li', 'note');
      var at = el('button', 'at', clock(note.at_s));
      at.type = 'button';
      at.title = '跳到这里';
      at.addEventListener('click', function () { seek(note.at_s, false); });
      var input = el('input', 'note-text');
      input.type = 'text';
      input.maxLength = 500;
      input.value = note.text;
      input.placeholder = '这里有什么问题？例如：声音突然变小';
      input.setAttribute('aria-label', clock(note.at_s) + ' 的批注');
      input.addEventListener('input', function () { note.text = input.value; });
      input.addEventListener('keydown', function (event) {
        if (event.key === 'Enter') { event.preventDefault(); input.blur(); }
      });
      var remove = el('button', 'link remove', '删除');
      remove.type = 'button';
      remove.addEventListener('click', function () {
        notes.splice(notes.indexOf(note), 1);
        renderNotes(null);
      });
      item.appendChild(at);
      item.appendChild(input);
      item.appendChild(remove);
      list.appendChild(item);
      if (note === focusNote) { input.focus(); }
    });
    $('notes-empty').hidden = notes.length > 0;
  }

  function addNote() {
    var at = player ? player.currentTime || 0 : 0;
    if (player && !player.paused) { player.pause(); }
    var note = { at_s: Math.round(at * 10) / 10, text: '' };
    notes.push(note);
    notes.sort(function (a, b) { return a.at_s - b.at_s; });
    renderNotes(note);
  }

  function filledNotes() {
    var out = [];
    notes.forEach(function (note) {
      var text = note.text.replace(/^\s+|\s+$/g, '');
      if (text) { out.push({ at_s: note.at_s, text: text }); }
    });
    return out;
  }

  // --- the decision --------------------------------------------------------------------------------------------

  function checkedReasons() {
    var codes = [];
    var boxes = document.querySelectorAll('input[name=reason]');
    for (var i = 0; i < boxes.length; i++) { if (boxes[i].checked) { codes.push(boxes[i].value); } }
    return codes;
  }

  function setBusy(value) {
    busy = value;
    var buttons = document.querySelectorAll('.actions button');
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = value; }
  }

  function goOn() {
    window.location.href = config.links.next || config.links.queue;
  }

  function decide(action) {
    if (busy) { return; }
    var comment = $('comment').value.replace(/^\s+|\s+$/g, '');
    var body = { action: action, reasons: checkedReasons(), comment: comment || null, notes: filledNotes() };
    setBusy(true);
    show($('action-error'), '');
    show($('action-status'), '正在提交…');
    call('POST', config.api.review, body, function (status, data) {
      if (status === 200) {
        show($('action-status'), (DONE[action] || '已完成') + (config.links.next ? '，正在打开下一节…' : '，返回队列…'));
        setTimeout(goOn, 500);
        return;
      }
      setBusy(false);
      show($('action-status'), '');
      show($('action-error'), problem(status, data));
    });
  }

  function feature() {
    if (busy) { return; }
    var button = $('feature');
    var wanted = button ? button.getAttribute('data-feature') === 'true' : true;
    setBusy(true);
    show($('action-error'), '');
    call('POST', config.api.feature, { featured: wanted }, function (status, data) {
      setBusy(false);
      if (status !== 200) { show($('action-error'), problem(status, data)); return; }
      config.featured = data.featured;
      show($('action-status'), data.featured ? '已评为精品，收入县级片库' : '已取消精品');
      if (button) {
        button.setAttribute('data-feature', data.featured ? 'false' : 'true');
        button.firstChild.textContent = data.featured ? '取消精品 ' : '评为精品 ';
      }
    });
  }

  // --- the transcript ------------------------------------------------------------------------------------------

  var transcript = null;
  var editing = -1;
  var shown = -1;

  function renderTranscript() {
    var list = $('segments');
    list.textContent = '';
    editing = -1;
    shown = -1;
    $('transcript-version').textContent = '第 ' + transcript.version + ' 版' +
      (transcript.source === 'edited' ? '（人工修改' + (transcript.author ? '：' + transcript.author : '') + '）' : '（自动识别）');
    var low = 0;
    transcript.segments.forEach(function (segment, index) {
      var item = el('li', 'segment' + (segment.low_confidence ? ' low' : ''));
      item.setAttribute('data-index', String(index));
      var at = el('button', 'at', clock(segment.start_s));
      at.type = 'button';
      at.title = '从这里播放';
      at.addEventListener('click', function () { seek(segment.start_s + 0.01, true); });
      var text = el('span', 'text', segment.text);
      text.tabIndex = 0;
      text.title = '点击修改';
      text.setAttribute('role', 'button');
      text.addEventListener('click', function () { edit(index); });
      text.addEventListener('keydown', function (event) {
        if (event.key === 'Enter') { event.preventDefault(); edit(index); }
      });
      item.appendChild(at);
      item.appendChild(text);
      if (segment.low_confidence) { item.appendChild(el('span', 'flag', '待核对')); low += 1; }
      list.appendChild(item);
    });
    show($('transcript-status'), transcript.segments.length
      ? '共 ' + transcript.segments.length + ' 句' + (low ? '，其中 ' + low + ' 句需要核对' : '')
      : '文字稿是空的（没有识别到讲话）');
  }

  /* The processing report was written with the page; after an edit (or loading a newer one) it says so. */
  function reportCaptions() {
    var row = $('report-captions');
    if (!row || !transcript) { return; }
    row.textContent = '第 ' + transcript.version + ' 版' + (transcript.source === 'edited' ? '（人工修改）' : '（自动识别）') +
      (transcript.version !== config.captionVersion ? '，字幕文件正在重新生成' : '');
  }

  function loadTranscript(event) {
    var again = !!event; // a click asked for it: the first load comes with the page
    show($('transcript-error'), '');
    call('GET', config.api.transcript, null, function (status, data) {
      if (status === 200 && data) {
        transcript = data;
        renderTranscript();
        if (again) { reportCaptions(); }
        return;
      }
      $('segments').textContent = '';
      show($('transcript-status'), status === 404 ? '这节课还没有字幕文字稿。' : '');
      if (status !== 404) { show($('transcript-error'), problem(status, data)); }
    });
  }

  function edit(index) {
    if (editing >= 0 || !transcript) { return; }
    editing = index;
    var item = $('segments').querySelector('li[data-index="' + index + '"]');
    var text = item.querySelector('.text');
    var box = el('textarea', 'edit');
    box.value = transcript.segments[index].text;
    box.rows = 2;
    box.maxLength = 500;
    box.setAttribute('aria-label', '修改这一句');
    var save = el('button', 'button small primary', '保存');
    save.type = 'button';
    var cancel = el('button', 'button small', '取消');
    cancel.type = 'button';
    var tools = el('span', 'edit-tools');
    tools.appendChild(save);
    tools.appendChild(cancel);
    item.replaceChild(box, text);
    item.appendChild(tools);
    item.classList.add('editing');
    box.focus();
    save.addEventListener('click', function () { saveSegment(index, box.value, save); });
    cancel.addEventListener('click', renderTranscript);
    box.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); saveSegment(index, box.value, save); }
      else if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); renderTranscript(); }
    });
  }

  function saveSegment(index, value, button) {
    var text = value.replace(/\s+/g, ' ').replace(/^\s+|\s+$/g, '');
    if (text === transcript.segments[index].text) { renderTranscript(); return; }
    if (!text) { show($('transcript-error'), '这一句不能是空的；不需要的句子请联系管理员删除'); return; }
    var segments = transcript.segments.map(function (segment, i) {
      return { start_s: segment.start_s, end_s: segment.end_s, text: i === index ? text : segment.text };
    });
    button.disabled = true;
    show($('transcript-error'), '');
    show($('transcript-status'), '正在保存…');
    call('POST', config.api.captions, { segments: segments, base_version: transcript.version,
                                        note: '审核台修改 ' + clock(transcript.segments[index].start_s) },
      function (status, data) {
        if (status === 201 && data) {
          transcript = data;
          renderTranscript();
          show($('transcript-status'), '已保存为第 ' + data.version + ' 版字幕，字幕文件正在重新生成。');
          reportCaptions();
          return;
        }
        button.disabled = false;
        show($('transcript-status'), '');
        show($('transcript-error'), problem(status, data) + (status === 409 ? '（点“取消”后会重新载入最新的文字稿）' : ''));
        if (status === 409) {
          var item = $('segments').querySelector('li[data-index="' + index + '"]');
          var cancel = item && item.querySelector('.edit-tools .button:not(.primary)');
          if (cancel) {
            cancel.removeEventListener('click', renderTranscript);
            cancel.addEventListener('click', loadTranscript);
          }
        }
      });
  }

  /* Light up the sentence being spoken, and keep it in view inside the transcript's own scroll box. */
  function follow() {
    if (!transcript || editing >= 0) { return; }
    var t = player.currentTime;
    var found = -1;
    for (var i = 0; i < transcript.segments.length; i++) {
      if (t >= transcript.segments[i].start_s && t < transcript.segments[i].end_s) { found = i; break; }
    }
    if (found === shown) { return; }
    var list = $('segments');
    var old = list.querySelector('li.now');
    if (old) { old.classList.remove('now'); }
    shown = found;
    if (found < 0) { return; }
    var item = list.querySelector('li[data-index="' + found + '"]');
    if (!item) { return; }
    item.classList.add('now');
    if (item.offsetTop < list.scrollTop || item.offsetTop + item.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTop = Math.max(0, item.offsetTop - 40);
    }
  }

  // --- keyboard ------------------------------------------------------------------------------------------------

  var KEYS = {
    j: function () { if (config.links.next) { window.location.href = config.links.next; } },
    k: function () { if (config.links.previous) { window.location.href = config.links.previous; } },
    a: function () { decide('approve'); },
    r: function () { decide('reject'); },
    v: function () { decide('request_revision'); },
    w: function () { decide('withdraw'); },
    p: function () { decide('republish'); },
    f: feature,
    n: addNote
  };

  document.addEventListener('keydown', function (event) {
    if (typing(event.target)) {
      if (event.key === 'Escape') { event.target.blur(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = (event.key || '').toLowerCase();
    if (key === ' ' && (event.target === document.body || event.target === player)) {
      event.preventDefault();
      togglePlay();
      return;
    }
    if (KEYS.hasOwnProperty(key)) {
      event.preventDefault();
      KEYS[key]();
    }
  });

  // --- wiring --------------------------------------------------------------------------------------------------

  var actionButtons = document.querySelectorAll('.actions button[data-action]');
  for (var i = 0; i < actionButtons.length; i++) {
    actionButtons[i].addEventListener('click', function (event) {
      decide(event.currentTarget.getAttribute('data-action'));
    });
  }
  if ($('feature')) { $('feature').addEventListener('click', feature); }
  $('add-note').addEventListener('click', addNote);
  if ($('quality')) { $('quality').addEventListener('click', switchQuality); }
  if ($('subtitles-toggle')) {
    $('subtitles-toggle').addEventListener('click', function () {
      window.weike.toggleSubtitles(player, $('subtitles-toggle'));
    });
  }
  if (player) {
    var track = window.weike.subtitleTrack(player);
    if (track) { track.mode = 'showing'; }
    player.addEventListener('timeupdate', follow);
    player.addEventListener('seeked', follow);
  }
  renderNotes(null);
  loadTranscript();
}());
