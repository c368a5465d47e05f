/* Helpers the pages share (plain ES5 for old Android browsers): window.weike.el, .clock, .typing, .getJson, … */
(function () {
  'use strict';

  /* An element with a class and text; text always goes in as text, never as markup. */
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function two(n) { return (n < 10 ? '0' : '') + n; }

  /* Seconds as 03:12 (or 1:03:12). */
  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds || 0));
    var h = Math.floor(s / 3600);
    return (h ? h + ':' + two(Math.floor((s % 3600) / 60)) : two(Math.floor(s / 60))) + ':' + two(s % 60);
  }

  var NOT_TYPED = ['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color', 'file'];

  /* Keyboard shortcuts stay off while someone types; a ticked checkbox keeps its focus and must not block them. */
  function typing(target) {
    if (!target) { return false; }
    var tag = target.tagName;
    if (tag === 'INPUT') { return NOT_TYPED.indexOf((target.type || '').toLowerCase()) < 0; }
    return tag === 'TEXTAREA' || tag === 'SELECT' || !!target.isContentEditable;
  }

  /* GET a JSON resource; done(status, parsed body or null); status 0 when the request never got an answer. */
  function getJson(url, done) {
    var request = new XMLHttpRequest();
    request.open('GET', url);
    request.setRequestHeader('Accept', 'application/json');
    request.onload = function () {
      var data = null;
      try { data = JSON.parse(request.responseText); } catch (e) { data = null; }
      done(request.status, data);
    };
    request.onerror = function () { done(0, null); };
    request.send(null);
  }

  /* The player's subtitle track (the page's only one), or null. */
  function subtitleTrack(player) {
    return player && player.textTracks && player.textTracks.length ? player.textTracks[0] : null;
  }

  /* Subtitles on or off; the button says what a press will do next. */
  function toggleSubtitles(player, button) {
    var track = subtitleTrack(player);
    if (!track) { return; }
    track.mode = track.mode === 'showing' ? 'hidden' : 'showing';
    button.textContent = track.mode === 'showing' ? '关闭字幕' : '打开字幕';
  }

  window.weike = { el: el, two: two, clock: clock, typing: typing, getJson: getJson, subtitleTrack: subtitleTrack,
                   toggleSubtitles: toggleSubtitles };
})();
