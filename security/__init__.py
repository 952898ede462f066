"""The project's supply-chain tools: the dependency audit (scripts/audit) and the pin bumper (scripts/bump-pins)."""
