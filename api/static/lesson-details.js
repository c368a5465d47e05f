/* 审核台, one lesson: the 课程信息 form (title, description, speaker from the lecturer pool, series and episode,
 * tags), saved with PATCH /api/v1/lessons/{id}; a new speaker or series can be added on the spot. The login cookie
 * goes along and state changes carry the CSRF header, as in review.js. Text from the server only ever goes in
 * through textContent. Plain ES5, like the other pages. */
(function () {
  'use strict';

  var form = document.getElementById('details-form');
  if (!form) { return; }
  var config = JSON.parse(document.getElementById('review-config').textContent);
  var $ = function (id) { return document.getElementById(id); };
  var busy = false;

  function call(method, url, body, done) {
    var request = new XMLHttpRequest();
    request.open(method, url);
    request.setRequestHeader('Accept', 'application/json');
    request.setRequestHeader('Content-Type', 'application/json');
    request.setRequestHeader('X-CSRF-Token', config.csrfToken);
    request.onload = function () {
      var data = null;
      try { data = JSON.parse(request.responseText); } catch (e) { data = null; }
      done(request.status, data);
    };
    request.onerror = function () { done(0, null); };
    request.send(JSON.stringify(body));
  }

  function problem(status, data) {
    if (data && data.message) { return data.message; }
    if (!status) { return '网络连接失败，请检查网络后重试'; }
    return '保存没有成功（错误 ' + status + '），请稍后重试';
  }

  function show(node, text) {
    node.textContent = text || '';
    node.hidden = !text;
  }

  function report(error, status) {
    show($('details-error'), error);
    show($('details-status'), status);
  }

  /* Tags as typed: split on Chinese or Latin commas, enumeration commas and semicolons; blanks dropped. */
  function tagList(text) {
    var parts = text.split(/[,，、;；\n]+/);
    var tags = [];
    for (var i = 0; i < parts.length; i++) {
      var tag = parts[i].replace(/^\s+|\s+$/g, '');
      if (tag && tags.indexOf(tag) < 0) { tags.push(tag); }
    }
    return tags;
  }

  function idOrNull(select) {
    return select.value ? parseInt(select.value, 10) : null;
  }

  function addOption(select, id, label) {
    var option = window.weike.el('option', null, label);
    option.value = String(id);
    select.appendChild(option);
    select.value = String(id);
  }

  function fill(lesson) {
    $('details-title').value = lesson.title;
    $('details-description').value = lesson.description || '';
    $('details-speaker').value = lesson.speaker_ref ? String(lesson.speaker_ref.id) : '';
    $('details-series').value = lesson.series ? String(lesson.series.id) : '';
    $('details-episode').value = lesson.episode ? String(lesson.episode) : '';
    $('details-tags').value = (lesson.tags || []).join('，');
  }

  function save(event) {
    event.preventDefault();
    if (busy) { return; }
    var title = $('details-title').value.replace(/^\s+|\s+$/g, '');
    if (!title) { report('课程标题不能为空', ''); $('details-title').focus(); return; }
    var seriesId = idOrNull($('details-series'));
    var episodeText = $('details-episode').value.replace(/^\s+|\s+$/g, '');
    var episode = episodeText ? parseInt(episodeText, 10) : null;
    if (episodeText && (isNaN(episode) || episode < 1 || episode > 9999)) {
      report('集数应为 1 到 9999 之间的整数', ''); $('details-episode').focus(); return;
    }
    if (episode !== null && seriesId === null) {
      report('请先选择系列，再填写集数', ''); $('details-series').focus(); return;
    }
    var tags = tagList($('details-tags').value);
    if (tags.length > 10) { report('每节课最多 10 个标签', ''); $('details-tags').focus(); return; }
    var body = {
      title: title, description: $('details-description').value, tags: tags,
      speaker_id: idOrNull($('details-speaker')), series_id: seriesId, episode: seriesId === null ? null : episode
    };
    busy = true;
    $('details-save').disabled = true;
    report('', '正在保存…');
    call('PATCH', config.api.lesson, body, function (status, data) {
      busy = false;
      $('details-save').disabled = false;
      if (status === 200 && data) {
        fill(data);
        report('', '已保存');
      } else {
        report(problem(status, data), '');
      }
    });
  }

  /* The small inline forms that add a speaker or a series and select it. */
  function toggle(buttonId, boxId, focusId) {
    $(buttonId).addEventListener('click', function () {
      var box = $(boxId);
      box.hidden = !box.hidden;
      if (!box.hidden) { $(focusId).focus(); }
    });
  }

  function create(url, body, select, label, inputs, boxId) {
    if (busy) { return; }
    busy = true;
    report('', '正在添加…');
    call('POST', url, body, function (status, data) {
      busy = false;
      if (status === 201 && data) {
        addOption(select, data.id, label(data));
        for (var i = 0; i < inputs.length; i++) { $(inputs[i]).value = ''; }
        $(boxId).hidden = true;
        report('', '已添加，保存课程信息后生效');
      } else {
        report(problem(status, data), '');
      }
    });
  }

  toggle('details-new-speaker', 'new-speaker', 'new-speaker-name');
  toggle('details-new-series', 'new-series', 'new-series-title');

  $('new-speaker-save').addEventListener('click', function () {
    var name = $('new-speaker-name').value.replace(/^\s+|\s+$/g, '');
    if (!name) { report('请填写讲师姓名', ''); $('new-speaker-name').focus(); return; }
    var title = $('new-speaker-title').value.replace(/^\s+|\s+$/g, '');
    create(config.api.speakers, { name: name, title: title || null }, $('details-speaker'), function (speaker) {
      return speaker.name + (speaker.title ? '（' + speaker.title + '）' : '');
    }, ['new-speaker-name', 'new-speaker-title'], 'new-speaker');
  });

  $('new-series-save').addEventListener('click', function () {
    var title = $('new-series-title').value.replace(/^\s+|\s+$/g, '');
    if (!title) { report('请填写系列名称', ''); $('new-series-title').focus(); return; }
    create(config.api.series, { title: title }, $('details-series'), function (series) {
      return series.title;
    }, ['new-series-title'], 'new-series');
  });

  /* Enter in an inline form adds the speaker or series instead of saving the whole form. */
  function enterClicks(inputIds, buttonId) {
    for (var i = 0; i < inputIds.length; i++) {
      $(inputIds[i]).addEventListener('keydown', function (event) {
        if (event.key === 'Enter' || event.keyCode === 13) { event.preventDefault(); $(buttonId).click(); }
      });
    }
  }
  enterClicks(['new-speaker-name', 'new-speaker-title'], 'new-speaker-save');
  enterClicks(['new-series-title'], 'new-series-save');

  form.addEventListener('submit', save);
})();
