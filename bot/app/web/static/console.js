// Starts the NHS.UK components (the header menu, error summaries). No inline script anywhere:
// the Content-Security-Policy allows scripts from this server only, so the classes NHS.UK's
// page template sets with an inline script are set here. A module script runs only in the
// browsers NHS.UK frontend supports.
import { initAll } from './nhsuk/nhsuk-frontend.min.js'

document.body.classList.add('js-enabled', 'nhsuk-frontend-supported')
initAll()
