// Podium: send a form's large file in parts, with a progress bar (docs/uploads.md).
//
// A form marked data-parted-upload="<URL that begins an upload>" is sent like this instead of in one request:
// begin the upload (its size is checked against the phase's limit before a byte is sent), PUT the file in
// parts from where the upload stands (a lost connection resumes from what arrived), then submit the form with
// the upload's token in the hidden field `upload` and without the file. Without JavaScript, the form sends
// the file in one request, as any form does.
"use strict";

(function () {
  const RETRIES = 5;

  function csrfToken(form) {
    const field = form.querySelector("input[name=csrf]");
    return field ? field.value : "";
  }

  async function answer(response) {
    let body = {};
    try { body = await response.json(); } catch (_ignored) { /* not JSON: a proxy's page */ }
    if (!response.ok) {
      const error = new Error(body.error || `the site answered ${response.status}`);
      error.status = response.status;
      error.body = body;
      throw error;
    }
    return body;
  }

  async function sendParts(form, file, upload, show) {
    const headers = { "X-CSRFToken": csrfToken(form), "Content-Type": "application/octet-stream" };
    const partUrl = form.dataset.partUrl.replace("TOKEN", encodeURIComponent(upload.token));
    let offset = upload.received_bytes;
    let failures = 0;
    while (offset < file.size) {
      const part = file.slice(offset, Math.min(offset + upload.part_bytes, file.size));
      try {
        const response = await fetch(`${partUrl}?offset=${offset}`, {
          method: "PUT", headers, body: part, credentials: "same-origin",
        });
        const state = await answer(response);
        offset = state.received_bytes;
        failures = 0;
      } catch (error) {
        if (error.status === 409 && error.body && Number.isInteger(error.body.received_bytes)) {
          offset = error.body.received_bytes;  // the site has more (or less) than we thought: resume there
          continue;
        }
        if (error.status && error.status < 500) throw error;  // refused: retrying will not help
        failures += 1;
        if (failures > RETRIES) throw new Error("the connection keeps failing; try again later (the upload resumes)");
        show(offset, `connection lost, retrying (${failures} of ${RETRIES})…`);
        await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** (failures - 1)));
        continue;
      }
      show(offset);
    }
  }

  function attach(form) {
    const input = form.querySelector("input[type=file]");
    const progress = form.querySelector("progress");
    const status = form.querySelector(".upload-status");
    const button = form.querySelector("button[type=submit]");

    function show(sent, note) {
      const total = input.files[0].size;
      progress.hidden = false;
      progress.max = total;
      progress.value = sent;
      const percent = total ? Math.floor((100 * sent) / total) : 100;
      status.textContent = note || `${percent}% sent (${(sent / 1048576).toFixed(1)} of ${(total / 1048576).toFixed(1)} MiB)`;
    }

    form.addEventListener("submit", async (event) => {
      if (!input.files.length || form.dataset.sending === "done") return;  // nothing chosen: the site says so
      event.preventDefault();
      if (form.dataset.sending === "yes") return;
      form.dataset.sending = "yes";
      button.disabled = true;
      status.classList.remove("form-error");
      status.removeAttribute("role");
      const file = input.files[0];
      try {
        show(0, "starting…");
        const upload = await answer(await fetch(form.dataset.partedUpload, {
          method: "POST",
          headers: { "X-CSRFToken": csrfToken(form), "Content-Type": "application/json" },
          body: JSON.stringify({ purpose: form.dataset.purpose, filename: file.name, size: file.size }),
          credentials: "same-origin",
        }));
        await sendParts(form, file, upload, show);
        show(file.size, "sent; checking it…");
        form.querySelector("input[name=upload]").value = upload.token;
        input.disabled = true;  // the file is on the site already: the form carries only its token
        form.dataset.sending = "done";
        form.submit();
      } catch (error) {
        status.textContent = `Not sent: ${error.message}`;
        status.classList.add("form-error");
        status.setAttribute("role", "alert");
        form.dataset.sending = "";
        button.disabled = false;
      }
    });
  }

  document.querySelectorAll("form[data-parted-upload]").forEach(attach);
})();
