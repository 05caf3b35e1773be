from api.cli import main

# Guarded: solver processes are spawned and import the main module again (api.services.solving).
if __name__ == "__main__":
    raise SystemExit(main())
