"""The driver app's desktop face (PySide6): tray icon, main window, settings, single instance.

`app.run_app` is `pitbox` with no arguments; `app.run_demo_app` is `pitbox demo` with a display.
Qt lives only here (ARCHITECTURE.md rule 2); the pipeline runs in a worker thread (`worker`).
"""
