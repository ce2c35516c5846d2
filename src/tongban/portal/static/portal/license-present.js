// The presentation code's countdown. Without JavaScript the page shows its expiry time alone.
(function () {
  "use strict";
  var box = document.querySelector("[data-countdown]");
  if (!box) { return; }
  var panel = document.getElementById("presentation");
  var clock = box.querySelector(".countdown-clock");
  // Counted from the page's arrival, not from the server's clock: a phone's clock may be off.
  var ends = Date.now() + parseInt(box.getAttribute("data-seconds"), 10) * 1000;
  var timer = null;

  function tick() {
    var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
    clock.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    if (left === 0) {
      window.clearInterval(timer);
      panel.classList.add("expired");
      box.textContent = box.getAttribute("data-expired");
      box.setAttribute("role", "alert");
    }
  }

  box.hidden = false;
  tick();
  timer = window.setInterval(tick, 1000);
})();
