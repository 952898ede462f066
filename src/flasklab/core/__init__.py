"""The lab's core: what every stage shares and nothing in it runs a server.

The catalog (servers, scenarios), the settings table, the sweep's definition and its time left, results.json's
records, and the one analysis of a step that every view, the claims and the planner ask. Core imports only core.
"""
