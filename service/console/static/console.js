// Polls a running job's progress; everything else in the console works without script.
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
        var state = job.finished ? (job.error ? "failed: " + job.error : "finished") : "running";
        box.querySelector(".job-state").textContent = state;
        if (!job.finished) { setTimeout(function () { poll(box); }, 500); }
      })
      .catch(function () { setTimeout(function () { poll(box); }, 2000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".job[data-progress-url]").forEach(poll);
  });
})();
