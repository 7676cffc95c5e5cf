// The agency quick start: a copy button on each example (registry/guide/templates/guide_agency.html).
"use strict";
(function () {
  const guide = document.getElementById("guide");
  if (!guide || !navigator.clipboard) return;
  for (const block of guide.querySelectorAll("pre.guide-code")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "guide-copy small secondary";
    button.textContent = guide.dataset.copy;
    button.addEventListener("click", async () => {
      await navigator.clipboard.writeText(block.querySelector("code").textContent);
      button.textContent = guide.dataset.copied;
      setTimeout(() => { button.textContent = guide.dataset.copy; }, 2000);
    });
    block.before(button);
  }
})();
