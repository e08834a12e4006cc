"""Allow ``python -m exchange_agent``."""

from exchange_agent.cli import main

if __name__ == "__main__":
    main()
