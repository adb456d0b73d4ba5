// keepup's page script: loaded by every page (deferred). Pages work
// without it; it only adds behaviour (live updates come here).
"use strict";
