// "Copy" buttons: <button class="copy" data-copy="ELEMENT_ID"> copies that element's text.
// A file of its own: the Content-Security-Policy allows no inline script.
"use strict";
document.addEventListener("click", function (event) {
  const button = event.target.closest("button.copy");
  if (!button) {
    return;
  }
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) {
    return;
  }
  navigator.clipboard.writeText(source.textContent).then(
    function () { button.textContent = "Copied"; },
    function () { button.textContent = "Select and copy"; }
  );
});
