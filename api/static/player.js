/* Adaptive playback on a lesson's page. When the lesson has an HLS presentation (the video's data-hls):
   - with Media Source Extensions, hls.js (vendor/, loaded only then, without a worker: the page's CSP allows no
     blob: workers) plays the master playlist, starting at the shared moment (?t=) and choosing the rung by
     bandwidth, capped to the player's size so a phone does not fetch 720p for a 360-pixel screen;
   - where the browser plays HLS itself (iOS Safari), the master playlist becomes the video's source;
   - otherwise, or when hls.js cannot play, the plain MP4 the page was served with stays (or comes back).
   Subtitles stay the page's own <track> (the current WebVTT), shown by library.js, which runs after this script and
   keeps following the transcript and seeking on a click whatever plays. Plain ES5. */
(function () {
  'use strict';
  var video = document.getElementById('player');
  var master = video && video.getAttribute('data-hls');
  if (!master || video.tagName !== 'VIDEO') { return; }
  var mp4 = video.getAttribute('src');
  var startS = 0;
  var config = document.getElementById('library-config');
  try { startS = config ? Number(JSON.parse(config.textContent).startS) || 0 : 0; } catch (e) { startS = 0; }

  /* HLS picks the rung itself: the 360p/720p switch gives way to a note saying so. */
  function adaptive() {
    var button = document.getElementById('quality');
    if (button && button.parentNode) { button.parentNode.removeChild(button); }
    var now = document.getElementById('quality-now');
    if (now) { now.textContent = '自动清晰度'; }
  }

  function plainMp4() {
    video.preload = 'metadata';
    if (video.getAttribute('src') !== mp4) {
      video.src = mp4;
      video.load();
    }
  }

  function startHlsJs() {
    var Hls = window.Hls;
    if (!Hls || !Hls.isSupported()) { plainMp4(); return; }
    var at = video.currentTime > 0 ? video.currentTime : startS;
    var hls = new Hls({ enableWorker: false, startPosition: at > 0 ? at : -1, capLevelToPlayerSize: true });
    hls.on(Hls.Events.ERROR, function (event, data) {
      if (data.fatal) {  // the presentation cannot play here: the MP4 can
        hls.destroy();
        plainMp4();
      }
    });
    // Only once the media source has replaced the MP4: raising preload while the MP4 is still the source makes
    // the browser start fetching it (a clean-clone test run caught the request).
    hls.on(Hls.Events.MEDIA_ATTACHED, function () { video.preload = 'auto'; });
    hls.loadSource(master);
    hls.attachMedia(video);
  }

  var Source = window.ManagedMediaSource || window.MediaSource;
  if (Source && typeof Source.isTypeSupported === 'function' &&
      Source.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"')) {
    adaptive();
    var script = document.createElement('script');
    script.src = video.getAttribute('data-hls-script');
    script.onload = startHlsJs;
    script.onerror = plainMp4;
    document.head.appendChild(script);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    adaptive();
    video.preload = 'metadata';
    video.src = master + (startS > 0 ? '#t=' + startS : '');
  } else {
    plainMp4();
  }
}());
