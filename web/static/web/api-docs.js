// Starts Swagger UI on /api/docs from the settings the page carries (web/apidocs.py).
// No inline script: the settings are JSON in a data block, the CSRF token a data attribute.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("swagger-settings").textContent);
  var csrf = document.body.dataset.csrfToken;
  config.dom_id = "#swagger-ui";
  config.presets = [SwaggerUIBundle.presets.apis];
  // Deep links render each operation's path as a link inside its summary button (a link
  // nested in a button: axe "nested-interactive", swagger-ui issue #9570); without them the
  // path is plain text and the button is the only control.
  config.deepLinking = false;
  if (csrf) {
    // The API signs in with the Django session, so unsafe methods need the CSRF token.
    config.requestInterceptor = function (req) {
      req.headers["X-CSRFToken"] = csrf;
      return req;
    };
  }
  window.ui = SwaggerUIBundle(config);
})();
