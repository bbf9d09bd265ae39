"""Reports (the 发布 step's printed half): each county's scorecard as print-ready HTML (and PDF through headless
Chromium when it is installed), and the quarterly statistics report as .xlsx in a fixed template
(county → prefecture → province). Both read only the marts, through the reader role."""
