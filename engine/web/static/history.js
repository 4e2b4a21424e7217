// The device time slider: show the instant the slider points at while it moves, and load
// the device at that instant when it is let go. Without this script the form's button does.
(function () {
  var range = document.getElementById("slider-t");
  var out = document.getElementById("slider-when");
  if (!range || !out) return;
  function show() {
    out.textContent = new Date(Number(range.value) * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }
  range.addEventListener("input", show);
  range.addEventListener("change", function () { range.form.submit(); });
})();
