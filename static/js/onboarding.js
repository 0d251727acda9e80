// After sign-up with a plan chosen on the pricing page: go on to Checkout without a click.
"use strict";

document.querySelector("form[data-autosubmit]")?.requestSubmit();
