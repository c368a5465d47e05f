/* Popularity (catalog/popularity.py): when the lesson first plays on this page view, one beacon to count a play.
   No body, no cookie, nothing about the visitor; the server counts a client once a day per lesson anyway. Listens
   on the document (play events do not bubble, so in the capture phase): whichever player the page ends up with
   (HLS or a plain file, video or audio) counts. Plain ES5. */
(function () {
  'use strict';
  var node = document.getElementById('library-config');
  if (!node) { return; }
  var url = JSON.parse(node.textContent).playsUrl;
  if (!url) { return; }  // not a published lesson: nothing to count
  var sent = false;

  function send() {
    if (sent) { return; }
    sent = true;
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(url)) { return; }
    } catch (e) { /* fall back to a request */ }
    var request = new XMLHttpRequest();
    request.open('POST', url, true);
    request.send();
  }

  document.addEventListener('play', function (event) {
    var target = event.target;
    if (target && (target.tagName === 'VIDEO' || target.tagName === 'AUDIO')) { send(); }
  }, true);
}());
