// API reference pages: Swagger UI "try it" and code snippets, filled with a test key that lives
// only in this browser (localStorage). Tollgate shows a raw key once and never stores it.
"use strict";

(() => {
  const panel = document.getElementById("try-it");
  const storageKey = () => `tollgate.testKey.${panel?.dataset.account || "default"}`;
  const placeholder = panel?.dataset.placeholder || "YOUR_TEST_KEY";
  const testKeyShape = /^[A-Za-z0-9]+_test_[0-9A-Za-z]{32}_[0-9A-Za-z]{6}$/;

  const storedKey = () => (panel ? localStorage.getItem(storageKey()) : null);

  function showError(message) {
    const box = document.getElementById("try-it-error");
    if (!box) return;
    box.textContent = message;
    box.classList.toggle("hidden", !message);
  }

  function fillSnippets(key) {
    for (const code of document.querySelectorAll("code.key-snippet, #step-export, #step-call")) {
      code.dataset.template ??= code.textContent;
      code.textContent = code.dataset.template.replaceAll(placeholder, key || placeholder);
    }
  }

  function render() {
    const key = storedKey();
    const shown = document.getElementById("try-it-key");
    if (shown) shown.textContent = key || "no key yet";
    document.getElementById("forget-test-key")?.classList.toggle("hidden", !key);
    fillSnippets(key);
    if (key && window.tollgateSwagger) {
      window.tollgateSwagger.preauthorizeApiKey?.("bearerAuth", key);
    }
  }

  function remember(key) {
    localStorage.setItem(storageKey(), key);
    showError("");
    render();
  }

  async function createKey(button) {
    button.disabled = true;
    try {
      const response = await fetch(panel.dataset.createUrl, {
        method: "POST",
        headers: { "X-CSRFToken": panel.dataset.csrf, Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body.message || "Could not create a key.");
      remember(body.key);
      document.getElementById("new-key-notice")?.classList.remove("hidden");
    } catch (error) {
      showError(error.message);
    } finally {
      button.disabled = false;
    }
  }

  document.getElementById("create-test-key")?.addEventListener("click", (e) => createKey(e.target));
  document.getElementById("forget-test-key")?.addEventListener("click", () => {
    localStorage.removeItem(storageKey());
    render();
  });
  document.getElementById("paste-key-form")?.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = document.getElementById("paste-key").value.trim();
    if (!testKeyShape.test(value)) {
      showError("That is not a test key (tg_test_…). Live keys are not used on this page.");
      return;
    }
    remember(value);
  });

  const container = document.getElementById("swagger-ui");
  if (container && window.SwaggerUIBundle) {
    window.tollgateSwagger = window.SwaggerUIBundle({
      url: container.dataset.specUrl,
      domNode: container,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      tryItOutEnabled: true,
      deepLinking: true,
      // Every "try it" call carries the test key, whatever the spec's security schemes say.
      requestInterceptor: (request) => {
        const key = storedKey();
        const isSpec = request.url.endsWith("/openapi.json");
        if (key && !isSpec && !request.headers.Authorization) {
          request.headers.Authorization = `Bearer ${key}`;
        }
        return request;
      },
    });
  }
  render();
})();
