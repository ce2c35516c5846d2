// 扫码: read a licence QR code with the phone camera (the browser's BarcodeDetector on a
// getUserMedia stream), put its text in the form and submit it. Where the browser cannot, the
// scan button stays hidden and the note says so: pasting the text always works.
(function () {
  "use strict";
  var box = document.querySelector("[data-scan]");
  if (!box) { return; }
  var button = box.querySelector(".scan-start");
  var video = box.querySelector(".scan-video");
  var note = box.querySelector(".scan-note");
  var form = box.closest("form");
  var field = form.querySelector("textarea");
  var stream = null;

  function unavailable(text) {
    stop();
    button.hidden = true;
    note.hidden = false;
    if (text) { note.textContent = text; }
  }

  function stop() {
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
    video.hidden = true;
    button.textContent = box.getAttribute("data-start");
  }

  function found(text) {
    stop();
    var link = null;
    try { link = new URL(text); } catch (error) { link = null; }
    if (link && /^https?:$/.test(link.protocol)) {
      // A presentation code of this node opens its page; a link elsewhere is only shown.
      if (link.origin === window.location.origin) { window.location.href = link.href; return; }
      note.hidden = false;
      note.textContent = box.getAttribute("data-link") + " ";
      var anchor = document.createElement("a");
      anchor.href = link.href;
      anchor.rel = "noopener noreferrer";
      anchor.textContent = link.href;
      note.appendChild(anchor);
      return;
    }
    field.value = text;
    form.submit();
  }

  function look(detector) {
    if (!stream) { return; }
    detector.detect(video).then(function (codes) {
      if (codes.length) { found(codes[0].rawValue); return; }
      window.setTimeout(function () { look(detector); }, 150);
    }, function () {
      // No frame yet (the video is still starting): try again shortly.
      window.setTimeout(function () { look(detector); }, 300);
    });
  }

  if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    unavailable();
    return;
  }
  window.BarcodeDetector.getSupportedFormats().then(function (formats) {
    if (formats.indexOf("qr_code") < 0) { unavailable(); return; }
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    note.hidden = true;
    button.hidden = false;
    button.addEventListener("click", function () {
      if (stream) { stop(); return; }
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (opened) {
          stream = opened;
          video.srcObject = opened;
          video.hidden = false;
          button.textContent = box.getAttribute("data-stop");
          var playing = video.play();
          if (playing && playing.then) {
            playing.then(function () { look(detector); }, function () { look(detector); });
          } else {
            look(detector);
          }
        }, function () { unavailable(box.getAttribute("data-denied")); });
    });
  }, function () { unavailable(); });
})();
