// Sagatrace page behaviour. No inline script anywhere: the CSP forbids it.
"use strict";
