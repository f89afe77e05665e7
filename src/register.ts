// `bpc/register`: `node --import bpc/register app.js` lets Node import `.bp`
// files, compiled to JavaScript on import (spec section 11). This entry only
// installs the module customisation hooks (register-hooks.ts), which Node
// runs on its hooks thread.
import { register } from "node:module";

register("./register-hooks.js", import.meta.url);
