// Starts the NHS.UK components (the header menu, error summaries). No inline script anywhere:
// the Content-Security-Policy allows scripts from this server only.
import { initAll } from './nhsuk/nhsuk-frontend.min.js'

initAll()
