from propdesk.cli import main

raise SystemExit(main())
