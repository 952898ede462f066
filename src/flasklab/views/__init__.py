"""Views: everything a person reads from a finished (or running) results.json.

The terminal summary, report.html and its charts, slides, the live dashboard, export and run-to-run comparison.
They read results and ask ``flasklab.core.analysis``; they never import the measurement stage.
"""
