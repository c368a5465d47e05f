/* The branch upload page: tus-js-client does the resumable upload; this file does the form, the progress
 * figures, and waiting out network drops. With `revisionOf` in the page's config the same form sends a revised
 * file of a lesson the county sent back (tus metadata `revision_of`). Plain ES5 for old Android browsers. */
(function () {
  'use strict';

  var config = JSON.parse(document.getElementById('page-config').textContent);
  var DRAFT_KEY = 'weike.draft';
  var OLD_LIST_KEY = 'weike.myUploads'; // 我的上传 used to be kept on the phone; the server lists it now
  var RETRY_EVERY_MS = 15000;

  var $ = function (id) { return document.getElementById(id); };
  var form = $('upload-form');
  var pickers = [$('file-pick'), $('file-video'), $('file-audio')];
  var file = null;
  var upload = null;
  var waitingTimer = null;
  var samples = [];
  var pausedByUser = false;
  var finished = false;
  var lastSent = 0;

  function store(key, value) {
    try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: no memory */ }
  }
  function load(key, fallback) {
    try { var v = localStorage.getItem(key); return v ? JSON.parse(v) : fallback; } catch (e) { return fallback; }
  }

  function mb(bytes) { return (bytes / 1048576).toFixed(1) + ' MB'; }
  function duration(seconds) {
    if (!isFinite(seconds) || seconds < 0) { return '估算中'; }
    seconds = Math.max(1, seconds);
    seconds = Math.round(seconds);
    if (seconds < 60) { return '约 ' + seconds + ' 秒'; }
    if (seconds < 3600) { return '约 ' + Math.floor(seconds / 60) + ' 分 ' + (seconds % 60) + ' 秒'; }
    return '约 ' + Math.floor(seconds / 3600) + ' 小时 ' + Math.round((seconds % 3600) / 60) + ' 分';
  }

  function setState(text, waiting) {
    var el = $('state');
    el.textContent = text;
    el.className = waiting ? 'state waiting' : 'state';
  }

  function showError(text) {
    var el = $('form-error');
    el.textContent = text;
    el.hidden = !text;
  }

  function fields() {
    var language = 'zh';
    var radios = form.querySelectorAll('input[name=language]');
    for (var i = 0; i < radios.length; i++) { if (radios[i].checked) { language = radios[i].value; } }
    return {
      title: $('title').value.replace(/^\s+|\s+$/g, ''),
      category: $('category').value,
      branch: $('branch').value.replace(/^\s+|\s+$/g, ''),
      speaker: $('speaker').value.replace(/^\s+|\s+$/g, ''),
      recorded_on: $('recorded_on').value,
      language: language
    };
  }

  function restoreDraft() {
    var draft = load(DRAFT_KEY, null);
    if (!draft) { return; }
    ['title', 'category', 'branch', 'speaker', 'recorded_on'].forEach(function (name) {
      if (draft[name]) { $(name).value = draft[name]; }
    });
    var radios = form.querySelectorAll('input[name=language]');
    for (var i = 0; i < radios.length; i++) { radios[i].checked = radios[i].value === draft.language; }
  }

  function forgetOldKeys() {
    try {
      localStorage.removeItem('weike.uploadToken'); // the old shared upload token
      localStorage.removeItem(OLD_LIST_KEY);
    } catch (e) { /* private mode: nothing kept */ }
  }

  function chooseFile(input) {
    if (!input.files || !input.files.length) { return; }
    file = input.files[0];
    $('file-name').textContent = '已选择：' + file.name + '（' + mb(file.size) + '）';
    if (!$('title').value) { $('title').value = file.name.replace(/\.[^.]+$/, '').slice(0, 200); }
    showError('');
  }

  function progress(sent, total) {
    var now = Date.now();
    samples.push([now, sent]);
    while (samples.length > 2 && now - samples[0][0] > 10000) { samples.shift(); }
    var first = samples[0];
    // Under 3 s of samples the figure mostly measures socket buffers filling up: say "estimating".
    var speed = now - first[0] >= 3000 ? (sent - first[1]) / ((now - first[0]) / 1000) : 0;
    var percent = total ? Math.floor(sent * 100 / total) : 0;
    $('bar-fill').style.width = percent + '%';
    document.querySelector('.bar').setAttribute('aria-valuenow', String(percent));
    $('done-mb').textContent = mb(sent);
    $('total-mb').textContent = mb(total);
    $('percent').textContent = percent + '%';
    $('speed').textContent = speed > 0 ? '速度 ' + mb(speed) + '/秒' : '速度 —';
    $('eta').textContent = '剩余时间 ' + (sent >= total ? '0 秒' : speed > 0 ? duration(Math.max(1, (total - sent) / speed)) : '估算中');
  }

  function serverMessage(error) {
    var response = error && error.originalResponse;
    if (!response) { return ''; }
    try { return JSON.parse(response.getBody()).message || ''; } catch (e) { return ''; }
  }

  function errorCode(error) {
    var response = error && error.originalResponse;
    try { return JSON.parse(response.getBody()).code || ''; } catch (e) { return ''; }
  }

  function isNetworkTrouble(error) {
    var response = error && error.originalResponse;
    var status = response ? response.getStatus() : 0;
    // 409 is tus's "wrong offset" (ask again and go on); a 409 naming another code is a refusal to show.
    if (status === 409) { var code = errorCode(error); return !code || code === 'upload_offset_mismatch'; }
    return !status || status >= 500 || status === 423;
  }

  function stalled() {
    lastSent = 0;
    samples = [];
    $('speed').textContent = '速度 —';
    $('eta').textContent = '剩余时间 等网络恢复后估算';
  }

  function waitForNetwork() {
    setState(navigator.onLine === false ? '网络已断开，恢复后会自动继续上传…' : '网络不稳定，正在等待重试…', true);
    stalled();
    clearTimeout(waitingTimer);
    waitingTimer = setTimeout(resumeNow, RETRY_EVERY_MS);
  }

  function resumeNow() {
    clearTimeout(waitingTimer);
    if (!upload || finished || pausedByUser) { return; }
    if (navigator.onLine === false) { waitForNetwork(); return; }
    setState('正在继续上传…', false);
    upload.start();
  }

  function succeed(payload) {
    finished = true;
    clearTimeout(waitingTimer);
    var response = payload && payload.lastResponse;
    var lessonId = response ? response.getHeader('Weike-Lesson-Id') : '';
    if (!lessonId && upload && upload.url) { awaitLesson(upload.url); }
    progress(file.size, file.size);
    setState('上传完成', false);
    $('speed').parentNode.hidden = true;
    $('pause').hidden = true;
    $('resume').hidden = true;
    $('done-box').hidden = false;
    $('done-box').setAttribute('data-lesson-id', lessonId || '');
    store(DRAFT_KEY, { branch: fields().branch, speaker: fields().speaker, category: fields().category,
                       language: fields().language });
  }

  // Every byte arrived but the server is still turning the file into a lesson (it finishes it by itself):
  // ask again until the answer names the lesson.
  function awaitLesson(url) {
    var request = new XMLHttpRequest();
    request.open('HEAD', url);
    request.setRequestHeader('Tus-Resumable', '1.0.0');
    request.onload = function () {
      var lessonId = request.getResponseHeader('Weike-Lesson-Id');
      if (lessonId) {
        $('done-box').setAttribute('data-lesson-id', lessonId);
      } else if (request.status === 200) {
        setTimeout(function () { awaitLesson(url); }, 10000);
      }
    };
    request.onerror = function () { setTimeout(function () { awaitLesson(url); }, 20000); };
    request.send();
  }

  // On a slow line a file can be picked before this script has run: its 'change' event came too early.
  function pickedEarlier() {
    pickers.forEach(function (input) { if (!file && input.files && input.files.length) { chooseFile(input); } });
  }

  function start(event) {
    if (event) { event.preventDefault(); }
    pickedEarlier();
    var f = fields();
    if (!file) { showError('请先选择或录制一个视频或录音文件'); return; }
    if (!f.title) { showError('请填写课程标题'); $('title').focus(); return; }
    if (file.size > config.maxBytes) { showError('文件太大，超过了 ' + mb(config.maxBytes) + ' 的上限'); return; }
    // The login cookie goes along by itself; creating an upload changes state, so it carries the CSRF token.
    var headers = { 'X-CSRF-Token': config.csrfToken };
    store(DRAFT_KEY, f);
    showError('');
    form.hidden = true;
    $('progress-box').hidden = false;
    setState('正在上传…', false);
    progress(0, file.size);
    finished = false;
    var metadata = {
      title: f.title, category: f.category, branch: f.branch, speaker: f.speaker, recorded_on: f.recorded_on,
      language: f.language, filename: file.name, filetype: file.type || ''
    };
    var options = {
      endpoint: config.endpoint,
      chunkSize: config.chunkSize,
      retryDelays: [0, 1000, 2000, 3000, 5000, 8000, 10000],
      headers: headers,
      metadata: metadata,
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onShouldRetry: function (error) {
        var retry = navigator.onLine !== false && isNetworkTrouble(error);
        if (retry) { setState('网络不稳定，正在重试…', true); stalled(); }
        return retry;
      },
      onProgress: function (sent, total) {
        if (!finished && sent > lastSent && $('state').className !== 'state') { setState('正在上传…', false); }
        lastSent = Math.max(lastSent, sent);
        progress(sent, total);
      },
      onChunkComplete: function () { if (!finished) { setState('正在上传…', false); } },
      onSuccess: function (payload) { succeed(payload); },
      onError: function (error) {
        if (isNetworkTrouble(error)) { waitForNetwork(); return; }
        var message = serverMessage(error) || '上传失败，请稍后重试';
        setState(message, true);
        form.hidden = false;
        showError(message);
      }
    };
    if (config.revisionOf) {
      metadata.revision_of = config.revisionOf;
      // The same file sent earlier as a new lesson must not be resumed as this revision, nor the other way round.
      options.fingerprint = function (f2, opts) {
        return tus.defaultOptions.fingerprint(f2, opts).then(function (print) {
          return print + '-revision-' + config.revisionOf;
        });
      };
    }
    upload = new tus.Upload(file, options);
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        setState('找到上次没传完的部分，从断点继续…', false);
      }
      upload.start();
    });
  }

  function showUnfinished() {
    if (!window.tus || !tus.defaultOptions || !tus.defaultOptions.urlStorage) { return; }
    tus.defaultOptions.urlStorage.findAllUploads().then(function (all) {
      if (!all.length) { return; }
      var item = all[all.length - 1];
      var name = (item.metadata && (item.metadata.title || item.metadata.filename)) || '未命名';
      var banner = $('resume-banner');
      banner.textContent = '上次有一个文件没有传完：《' + name + '》。请重新选择同一个文件，点“开始上传”，会从断点接着传。';
      banner.hidden = false;
    });
  }

  pickers.forEach(function (input) { input.addEventListener('change', function () { chooseFile(input); }); });
  form.addEventListener('submit', start);
  $('pause').addEventListener('click', function () {
    pausedByUser = true;
    clearTimeout(waitingTimer);
    if (upload) { upload.abort(); }
    setState('已暂停', true);
    $('pause').hidden = true;
    $('resume').hidden = false;
  });
  $('resume').addEventListener('click', function () {
    pausedByUser = false;
    $('pause').hidden = false;
    $('resume').hidden = true;
    resumeNow();
  });
  window.addEventListener('online', function () { if (upload && !finished) { resumeNow(); } });
  window.addEventListener('offline', function () {
    if (upload && !finished && !pausedByUser) { upload.abort(); waitForNetwork(); }
  });

  forgetOldKeys();
  if (!config.revisionOf) { restoreDraft(); } // a revision's form comes filled in with the lesson's own details
  pickedEarlier();
  showUnfinished();
}());
