// The API documentation pages: Swagger UI on /docs, from files shipped with axial (no CDN).
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  if (root && window.SwaggerUIBundle) {
    window.ui = window.SwaggerUIBundle({
      url: root.getAttribute("data-spec-url"),
      dom_id: "#swagger-ui",
      deepLinking: true,
    });
  }
});
