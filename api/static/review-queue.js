/* 审核台 queue: filters apply as soon as they change; J/K move through the rows, Enter opens one.
 * Plain ES5, like the other pages. */
(function () {
  'use strict';

  var typing = window.weike.typing;

  var form = document.getElementById('queue-filters');
  if (form) {
    var selects = form.querySelectorAll('select');
    for (var i = 0; i < selects.length; i++) {
      selects[i].addEventListener('change', function (event) {
        // Another township's branches are not in the list: start the branch choice again.
        if (event.target.name === 'township' && form.elements.branch) { form.elements.branch.value = ''; }
        form.submit();
      });
    }
  }

  var rows = document.querySelectorAll('#queue tbody tr');
  var current = -1;

  function select(index) {
    if (!rows.length) { return; }
    index = Math.max(0, Math.min(rows.length - 1, index));
    if (current >= 0) { rows[current].classList.remove('selected'); }
    current = index;
    rows[current].classList.add('selected');
    var link = rows[current].querySelector('a');
    if (link) { link.focus(); }
  }

  document.addEventListener('keydown', function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var key = (event.key || '').toLowerCase();
    if (key === 'j') { select(current + 1); event.preventDefault(); }
    else if (key === 'k') { select(current - 1); event.preventDefault(); }
    else if (key === 'enter' && current >= 0 && event.target === document.body) {
      window.location.href = rows[current].getAttribute('data-href');
    }
  });
}());
