// Passkeys (WebAuthn) for the sign-in page, the account pages and the forms a passkey confirms
// (recovery, unlock, a new password). Everything else works without JS.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      const e = new Error(data.detail || data.error_description || r.statusText);
      e.code = data.code;
      throw e;
    }
    return data;
  }
  function inner(options) { return options.publicKey || options; }

  const login = document.getElementById("passkey-login");
  if (login) {
    login.addEventListener("click", async () => {
      const err = document.getElementById("passkey-error");
      err.hidden = true;
      try {
        const begun = await post("/webauthn/login/begin", {});
        const cred = await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(inner(begun.options)),
        });
        const done = await post("/webauthn/login/complete", {
          challenge_id: begun.challenge_id, credential: cred.toJSON(), req: login.dataset.req || null,
        });
        window.location.assign(done.redirect);
      } catch (e) {
        // A locked identity: the unlock page says what locking does and how to undo it.
        if (e.code === "identity-locked") { window.location.assign("/unlock"); return; }
        err.hidden = false;
        err.textContent = err.textContent.split(" (")[0] + " (" + e.message + ")";
      }
    });
  }

  // A form confirmed with a passkey: prove it is you, then send the form with the proof.
  document.querySelectorAll("button[data-proof]").forEach((button) => {
    button.addEventListener("click", async () => {
      const form = button.closest("form");
      const err = form.querySelector(".proof-error");
      const proof = form.querySelector('input[name="proof"]');
      if (err) err.hidden = true;
      if (proof.value) { form.submit(); return; }  // kept from a try refused for another field
      try {
        const begun = await post("/webauthn/login/begin", {});
        const cred = await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(inner(begun.options)),
        });
        const done = await post("/webauthn/proof/complete", {
          challenge_id: begun.challenge_id, credential: cred.toJSON(), use: button.dataset.proof,
        });
        proof.value = done.proof;
        form.submit();
      } catch (e) {
        if (err) { err.hidden = false; err.textContent = err.textContent.split(" (")[0] + " (" + e.message + ")"; }
      }
    });
  });
  // A staff member's first passkey: create it, sign in with it at once, go on to the work.
  const enrol = document.getElementById("passkey-enrol");
  if (enrol) {
    enrol.addEventListener("click", async () => {
      const status = document.getElementById("passkey-status");
      status.hidden = true;
      try {
        const begun = await post("/webauthn/register/begin", {});
        const created = await navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(inner(begun.options)),
        });
        const name = (document.getElementById("passkey-name")?.value || "").trim() || "Passkey";
        await post("/webauthn/register/complete", {
          challenge_id: begun.challenge_id, credential: created.toJSON(), name: name,
        });
        const asked = await post("/webauthn/login/begin", {});
        const cred = await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(inner(asked.options)),
        });
        const done = await post("/webauthn/login/complete", {
          challenge_id: asked.challenge_id, credential: cred.toJSON(), req: enrol.dataset.req || null,
        });
        window.location.assign(done.redirect);
      } catch (e) {
        status.hidden = false;
        status.textContent = status.textContent.split(" (")[0] + " (" + e.message + ")";
      }
    });
  }

  const register = document.getElementById("passkey-register");
  if (register) {
    register.addEventListener("click", async () => {
      const status = document.getElementById("passkey-status");
      try {
        const begun = await post("/webauthn/register/begin", {});
        const cred = await navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(inner(begun.options)),
        });
        const name = (document.getElementById("passkey-name")?.value || "").trim() || "Passkey";
        await post("/webauthn/register/complete", {
          challenge_id: begun.challenge_id, credential: cred.toJSON(), name: name,
        });
        window.location.reload();
      } catch (e) {
        if (status) { status.hidden = false; status.textContent = e.message; }
      }
    });
  }
})();
