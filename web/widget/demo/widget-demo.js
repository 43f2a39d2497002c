// The demo page's only script (its CSP allows no inline script): loads /widget.js with the key from
// the form or from ?key=…, the way a website's snippet does. The key stays in memory only.
(function () {
  var params = new URLSearchParams(location.search);

  function snippet(key, extra) {
    return '<script src="' + location.origin + '/widget.js" data-key="' + key + '"' + extra + ' async></script>';
  }

  function load(key) {
    var script = document.createElement('script');
    script.src = '/widget.js';
    script.async = true;
    script.dataset.key = key;
    var extra = '';
    ['title', 'database', 'open'].forEach(function (name) {
      var value = params.get(name);
      if (value) {
        script.dataset[name] = value;
        extra += ' data-' + name + '="' + value + '"';
      }
    });
    document.getElementById('snippet').textContent = snippet(key, extra);
    document.body.appendChild(script);
  }

  document.addEventListener('DOMContentLoaded', function () {
    var form = document.getElementById('load-widget');
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var input = document.getElementById('key');
      var key = input.value.trim();
      if (!key) return;
      input.value = '';
      form.hidden = true;
      load(key);
    });
    var key = params.get('key');
    if (key) {
      form.hidden = true;
      load(key.trim());
    }
  });
})();
