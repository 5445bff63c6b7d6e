from lerobot_core.cli import main

raise SystemExit(main())
