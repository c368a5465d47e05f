/* A lesson's public page: start at the shared moment (?t=), follow the transcript (the sentence being spoken is lit;
   a click on a sentence plays from there), switch 360p/720p, subtitles on/off, and a share link that opens at the
   moment being played. The page reads without this script; it only adds to it. Plain ES5. */
(function () {
  'use strict';
  var node = document.getElementById('library-config');
  if (!node) { return; }
  var config = JSON.parse(node.textContent);
  var player = document.getElementById('player');
  var list = document.getElementById('transcript');
  var share = document.getElementById('share-link');

  function $(id) { return document.getElementById(id); }

  // --- the transcript ------------------------------------------------------------------------------------------

  var segments = [];
  var items = list ? list.querySelectorAll('li.segment') : [];
  for (var i = 0; i < items.length; i++) {
    segments.push({ start: parseFloat(items[i].getAttribute('data-start')) || 0,
                    end: parseFloat(items[i].getAttribute('data-end')) || 0, item: items[i] });
  }
  var lit = -1;

  function light(index) {
    if (index === lit) { return; }
    if (lit >= 0) { segments[lit].item.classList.remove('now'); }
    lit = index;
    if (index < 0) { return; }
    var item = segments[index].item;
    item.classList.add('now');
    if (item.offsetTop < list.scrollTop || item.offsetTop + item.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTop = Math.max(0, item.offsetTop - 40);
    }
  }

  function follow() {
    var t = player.currentTime;
    var found = -1;
    for (var j = 0; j < segments.length; j++) {
      if (t >= segments[j].start && t < segments[j].end) { found = j; break; }
    }
    light(found);
    updateShare();
  }

  function play() {
    var started = player.play();
    if (started && started['catch']) { started['catch'](function () { /* autoplay refused: stay paused */ }); }
  }

  function seekTo(index) {
    if (!player) { return; }
    player.currentTime = segments[index].start + 0.01;
    light(index);
    if (player.paused) { play(); }
  }

  segments.forEach(function (segment, index) {
    segment.item.addEventListener('click', function (event) {
      if (!player) { return; }  // no player: the time link opens the page at that moment
      event.preventDefault();
      seekTo(index);
    });
  });

  // --- sharing ---------------------------------------------------------------------------------------------------

  var shared = -1;

  function updateShare() {
    if (!share) { return; }
    var t = Math.floor(player ? player.currentTime || 0 : 0);
    if (t === shared) { return; }
    shared = t;
    share.value = config.shareUrl + (t > 0 ? '?t=' + t : '');
  }

  function copyShare() {
    var done = function () { $('share-status').textContent = '链接已复制，可以粘贴到微信里发给大家'; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(share.value).then(done, function () { selectShare(done); });
    } else {
      selectShare(done);
    }
  }

  function selectShare(done) {
    share.focus();
    share.select();
    var copied = false;
    try { copied = document.execCommand('copy'); } catch (e) { copied = false; }
    if (copied) { done(); } else { $('share-status').textContent = '请长按上面的链接，选择“复制”'; }
  }

  // --- the player ------------------------------------------------------------------------------------------------

  var playing = config.player.label;

  function switchQuality() {
    var target = playing === config.player.sharper ? config.player.label : config.player.sharper;
    var at = player.currentTime;
    var wasPaused = player.paused;
    player.addEventListener('loadedmetadata', function resume() {
      player.removeEventListener('loadedmetadata', resume);
      player.currentTime = at;
      if (!wasPaused) { play(); }
    });
    player.src = config.player.sources[target];
    player.load();
    playing = target;
    var sharp = target === config.player.sharper;
    $('quality-now').textContent = target + (sharp ? ' 清晰版' : ' 省流量版');
    $('quality').textContent = sharp ? '换回 ' + config.player.label + ' 省流量版' : '换成 ' + target + ' 清晰版';
  }

  /* The #t= media fragment already starts most browsers at the shared moment; this covers the rest. */
  function startAt() {
    player.removeEventListener('loadedmetadata', startAt);  // once: a quality switch keeps its own moment
    if (config.startS > 0 && Math.abs(player.currentTime - config.startS) > 0.5) { player.currentTime = config.startS; }
    follow();
  }

  if (share && $('share-copy')) {
    $('share-copy').hidden = false;
    $('share-copy').addEventListener('click', copyShare);
  }
  if (!player) { return; }
  if ($('quality')) {
    $('quality').hidden = false;
    $('quality').addEventListener('click', switchQuality);
  }
  var track = window.weike.subtitleTrack(player);
  if (track) {
    track.mode = 'showing';
    if ($('subtitles-toggle')) {
      $('subtitles-toggle').hidden = false;
      $('subtitles-toggle').addEventListener('click', function () {
        window.weike.toggleSubtitles(player, $('subtitles-toggle'));
      });
    }
  }
  player.addEventListener('timeupdate', follow);
  player.addEventListener('seeked', follow);
  if (player.readyState >= 1) { startAt(); } else { player.addEventListener('loadedmetadata', startAt); }
}());
