// Follows a running job: its progress until it finishes, then the page again (so every list on
// it shows the one state), and again every two seconds while a record's outcome is pending.
// Everything else in the console works without script.
(function () {
  "use strict";
  function poll(box) {
    var url = box.getAttribute("data-progress-url");
    fetch(url, { credentials: "same-origin" })
      .then(function (answer) { return answer.json(); })
      .then(function (job) {
        box.querySelector("progress").value = job.percent;
        box.querySelector(".job-done").textContent = job.done;
        box.querySelector(".job-total").textContent = job.total;
        box.querySelector(".job-sent").textContent = job.sent;
        if (job.finished) { window.location.reload(); return; }
        setTimeout(function () { poll(box); }, 500);
      })
      .catch(function () { setTimeout(function () { poll(box); }, 2000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".job[data-progress-url]").forEach(function (box) {
      if (box.getAttribute("data-state") === "running") { poll(box); }
      else if (box.getAttribute("data-pending")) {
        setTimeout(function () { window.location.reload(); }, 2000);
      }
    });
  });
})();
