// Starts Swagger UI or ReDoc (registry/guide/apidocs.py): a file, not an inline script, so that
// the pages' Content-Security-Policy can keep script-src 'self'.
"use strict";
(function () {
  var root = document.getElementById("api-docs");
  var spec = root.dataset.openapi;
  if (root.dataset.ui === "swagger") {
    window.ui = SwaggerUIBundle({
      url: spec,
      dom_id: "#api-docs",
      deepLinking: true,
      validatorUrl: null,
      showExtensions: true,
      showCommonExtensions: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
      layout: "BaseLayout",
    });
  } else {
    Redoc.init(spec, { nativeScrollbars: true }, root);
  }
})();
