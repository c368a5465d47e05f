/* 我的上传: the lessons of the uploader's branch (or only their own) from the API, with processing progress and
 * the county's review: the state, the reasons, the comment and the time-coded notes; a lesson sent back for
 * revision offers the upload of its revised version. Unfinished uploads on this phone (tus) are listed on top.
 * Text from the server only ever goes in through textContent. Plain ES5 for old Android browsers. */
(function () {
  'use strict';

  var el = window.weike.el, two = window.weike.two, clock = window.weike.clock, get = window.weike.getJson;

  var config = JSON.parse(document.getElementById('page-config').textContent);
  var POLL_MS = 5000;
  var DECIDED = { published: true, rejected: true, revision_requested: true, withdrawn: true };
  var $ = function (id) { return document.getElementById(id); };
  var list = $('lessons');
  var scope = config.scope;
  var offset = 0;
  var generation = 0; // bumped when the list starts again: answers for an older list are dropped

  function day(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return String(iso || '').slice(0, 10); }
    return d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate());
  }

  function statusText(lesson) {
    var text = config.statuses[lesson.status] || lesson.status;
    if (lesson.status === 'processing' || lesson.status === 'queued') { text += ' ' + lesson.progress + '%'; }
    if (lesson.status === 'failed' && lesson.error) { text += '：' + lesson.error.message; }
    return text;
  }

  function reviewBlock(lesson, node) {
    var state = lesson.review_state;
    var line = el('div', 'review' + (state ? ' ' + state : ''),
                  state ? '审核：' + (config.states[state] || state) : '审核：处理完成后送县里审核');
    node.appendChild(line);
    var review = lesson.review;
    if (!review || !DECIDED[state]) { return; }
    if (review.reasons && review.reasons.length) {
      node.appendChild(el('div', 'reasons', '原因：' + review.reasons.map(function (r) { return r.label; }).join('、')));
    }
    if (review.comment) { node.appendChild(el('div', 'comment', '审核意见：' + review.comment)); }
    if (review.notes && review.notes.length) {
      var notes = el('ol', 'notes');
      review.notes.forEach(function (note) {
        var item = el('li');
        item.appendChild(el('span', 'at', clock(note.at_s)));
        item.appendChild(document.createTextNode(' ' + note.text));
        notes.appendChild(item);
      });
      node.appendChild(notes);
    }
  }

  function revisionBlock(lesson, node) {
    if (lesson.review_state !== 'revision_requested' || !config.mayUpload) { return; }
    if (lesson.status === 'queued' || lesson.status === 'processing') {
      node.appendChild(el('div', 'hint', '修改后的版本已上传，处理完成后会重新送县里审核。'));
      return;
    }
    var link = el('a', 'button primary revise', '上传修改后的版本');
    link.href = '/upload?revision_of=' + encodeURIComponent(lesson.id);
    node.appendChild(link);
  }

  /* One lesson: `lesson` is a list entry at first, the full lesson once it has been asked for. */
  function render(lesson, node, posterUrl) {
    node.textContent = '';
    if (posterUrl) {
      var img = el('img', 'thumb');
      img.src = posterUrl;
      img.alt = '';
      img.loading = 'lazy';
      node.appendChild(img);
    } else if (lesson.media_kind === 'audio') {
      node.appendChild(el('span', 'thumb audio', '音频'));
    }
    var body = el('div', 'body');
    body.appendChild(el('div', 'title', lesson.title));
    var meta = [];
    if (scope === 'mine' && lesson.branch) { meta.push(lesson.branch.name); } // the branch's own list needs no name
    meta.push('上传于 ' + day(lesson.created_at));
    if (lesson.duration_s) { meta.push('时长 ' + clock(lesson.duration_s)); }
    if (lesson.revision && lesson.revision > 1) { meta.push('第 ' + lesson.revision + ' 版'); }
    body.appendChild(el('div', 'meta', meta.join(' · ')));
    body.appendChild(el('div', 'status ' + lesson.status, statusText(lesson)));
    if (lesson.status !== 'ready') {
      var bar = el('div', 'bar');
      var fill = el('span');
      fill.style.width = (lesson.status === 'failed' ? 0 : lesson.progress) + '%';
      bar.appendChild(fill);
      body.appendChild(bar);
    }
    reviewBlock(lesson, body);
    revisionBlock(lesson, body);
    node.appendChild(body);
  }

  function needsDetail(summary) {
    return summary.status !== 'ready' || !!DECIDED[summary.review_state];
  }

  function follow(id, node, posterUrl, mine) {
    get('/api/v1/lessons/' + encodeURIComponent(id), function (status, lesson) {
      if (mine !== generation) { return; }
      var again = false;
      if (status === 200 && lesson) {
        render(lesson, node, posterUrl);
        again = lesson.status === 'queued' || lesson.status === 'processing';
      } else if (status === 404) {
        node.appendChild(el('div', 'status failed', '找不到这节课（可能已被删除）'));
      } else {
        again = true;
      }
      if (again) { setTimeout(function () { follow(id, node, posterUrl, mine); }, status ? POLL_MS : POLL_MS * 2); }
    });
  }

  function listUrl() {
    var query = scope === 'branch' && config.branchId ? 'branch_id=' + config.branchId : 'mine=1';
    return '/api/v1/lessons?' + query + '&offset=' + offset + '&limit=' + config.pageSize;
  }

  function loadPage() {
    var mine = generation;
    $('more').hidden = true;
    $('list-error').hidden = true;
    $('list-status').hidden = false;
    $('list-status').textContent = '正在载入…';
    get(listUrl(), function (status, page) {
      if (mine !== generation) { return; }
      $('list-status').hidden = true;
      if (status !== 200 || !page) {
        $('list-error').textContent = (page && page.message) || '没有载入成功，请检查网络后刷新页面';
        $('list-error').hidden = false;
        return;
      }
      page.items.forEach(function (summary) {
        var node = el('li');
        node.setAttribute('data-lesson-id', summary.id);
        node.setAttribute('data-review-state', summary.review_state || '');
        list.appendChild(node);
        render(summary, node, summary.poster_url);
        if (needsDetail(summary)) { follow(summary.id, node, summary.poster_url, mine); }
      });
      offset += page.items.length;
      $('empty').hidden = page.total > 0;
      $('more').hidden = offset >= page.total;
    });
  }

  function restart() {
    generation += 1;
    offset = 0;
    list.textContent = '';
    loadPage();
  }

  function showUnfinished() {
    if (!window.tus || !tus.defaultOptions || !tus.defaultOptions.urlStorage) { return; }
    tus.defaultOptions.urlStorage.findAllUploads().then(function (all) {
      var box = $('unfinished');
      all.forEach(function (item) {
        var name = (item.metadata && (item.metadata.title || item.metadata.filename)) || '未命名';
        var revisionOf = item.metadata && item.metadata.revision_of;
        var note = el('p', 'banner', '《' + name + '》' + (revisionOf ? '的修改版本' : '') + '还没有传完。');
        var link = el('a', '', '回到上传页，选择同一个文件继续');
        link.href = revisionOf ? '/upload?revision_of=' + encodeURIComponent(revisionOf) : '/upload';
        note.appendChild(link);
        box.appendChild(note);
      });
    });
  }

  var scopeButtons = document.querySelectorAll('.scope button');
  for (var i = 0; i < scopeButtons.length; i++) {
    scopeButtons[i].addEventListener('click', function (event) {
      var wanted = event.currentTarget.getAttribute('data-scope');
      if (wanted === scope) { return; }
      scope = wanted;
      for (var j = 0; j < scopeButtons.length; j++) {
        var on = scopeButtons[j].getAttribute('data-scope') === scope;
        scopeButtons[j].className = on ? 'here' : '';
        scopeButtons[j].setAttribute('aria-pressed', on ? 'true' : 'false');
      }
      restart();
    });
  }
  $('more').addEventListener('click', loadPage);
  restart();
  showUnfinished();
}());
