"""`python -m console` is `kconsole`."""

from console.cli import main

raise SystemExit(main())
