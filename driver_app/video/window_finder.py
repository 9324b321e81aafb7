"""Where a window is on screen, found by its title: the sim's window as a capture region.

`find_window(title)` returns the screen rectangle of the visible window whose title contains
`title` (case-insensitive; an exact match wins, then the largest), or None. On Windows it asks
user32 (the window's client area, in physical pixels: mss makes the process DPI-aware); on Linux
it walks the X server's window tree over XCB (libxcb through ctypes: XCB reports errors per
request, so a window closing during the walk cannot take the process down, as Xlib's global
error handler would). Nothing here keeps a connection open between calls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from driver_app.video.errors import CaptureError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle of the screen, in pixels of the virtual screen (the primary monitor's top left is 0, 0)."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    def clamp(self, bounds: Region) -> Region | None:
        """The part of this region inside `bounds` (None when they do not overlap)."""
        left, top = max(self.left, bounds.left), max(self.top, bounds.top)
        right, bottom = min(self.right, bounds.right), min(self.bottom, bounds.bottom)
        if right <= left or bottom <= top:
            return None
        return Region(left, top, right - left, bottom - top)

    def as_mss(self) -> dict[str, int]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}


@dataclass(frozen=True, slots=True)
class FoundWindow:
    title: str
    region: Region


def pick(candidates: list[FoundWindow], title: str) -> FoundWindow | None:
    """The window meant by `title`: an exact (case-insensitive) title first, then the largest containing it."""
    wanted = title.casefold()
    matching = [c for c in candidates if wanted in c.title.casefold() and c.region.width > 1 and c.region.height > 1]
    if not matching:
        return None
    return max(matching, key=lambda c: (c.title.casefold() == wanted, c.region.width * c.region.height))


def find_window(title: str, display: str | None = None) -> Region | None:
    """The screen region of the window titled `title` (see the module docstring); None when there is none."""
    if not title:
        raise CaptureError("a window title is needed to find a window")
    if sys.platform == "win32":
        candidates = list(_win32_windows())
    elif sys.platform.startswith("linux"):
        candidates = list(_x11_windows(display))
    else:
        raise CaptureError(f"finding windows by title is not supported on {sys.platform}")
    found = pick(candidates, title)
    return None if found is None else found.region


# ------------------------------------------------------------------------------------------------ Windows


def _win32_windows() -> Iterator[FoundWindow]:  # pragma: no cover - Windows only
    from ctypes import wintypes

    user32: Any = ctypes.windll.user32  # type: ignore[attr-defined]
    found: list[FoundWindow] = []
    enum_proc = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)  # type: ignore[attr-defined]

    def visit(hwnd: int, _: int) -> bool:
        if not user32.IsWindowVisible(hwnd) or user32.IsIconic(hwnd):
            return True
        length = user32.GetWindowTextLengthW(hwnd)
        if length <= 0:
            return True
        buffer = ctypes.create_unicode_buffer(length + 1)
        user32.GetWindowTextW(hwnd, buffer, length + 1)
        rect = wintypes.RECT()
        if not user32.GetClientRect(hwnd, ctypes.byref(rect)):
            return True
        origin = wintypes.POINT(0, 0)
        user32.ClientToScreen(hwnd, ctypes.byref(origin))
        found.append(FoundWindow(buffer.value, Region(origin.x, origin.y, rect.right, rect.bottom)))
        return True

    user32.EnumWindows(enum_proc(visit), 0)
    yield from found


# ------------------------------------------------------------------------------------------------ X11 (XCB)

_ATOM_WM_NAME: Final = 39
_ANY_PROPERTY_TYPE: Final = 0
_MAP_STATE_VIEWABLE: Final = 2
_MAX_DEPTH: Final = 6


class _Cookie(ctypes.Structure):
    _fields_ = [("sequence", ctypes.c_uint)]


class _ScreenIterator(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("rem", ctypes.c_int), ("index", ctypes.c_int)]


class _QueryTreeReply(ctypes.Structure):
    _fields_ = [
        ("response_type", ctypes.c_uint8),
        ("pad0", ctypes.c_uint8),
        ("sequence", ctypes.c_uint16),
        ("length", ctypes.c_uint32),
        ("root", ctypes.c_uint32),
        ("parent", ctypes.c_uint32),
        ("children_len", ctypes.c_uint16),
        ("pad1", ctypes.c_uint8 * 14),
    ]


class _InternAtomReply(ctypes.Structure):
    _fields_ = [
        ("response_type", ctypes.c_uint8),
        ("pad0", ctypes.c_uint8),
        ("sequence", ctypes.c_uint16),
        ("length", ctypes.c_uint32),
        ("atom", ctypes.c_uint32),
    ]


class _WindowAttributesReply(ctypes.Structure):
    _fields_ = [
        ("response_type", ctypes.c_uint8),
        ("backing_store", ctypes.c_uint8),
        ("sequence", ctypes.c_uint16),
        ("length", ctypes.c_uint32),
        ("visual", ctypes.c_uint32),
        ("class_", ctypes.c_uint16),
        ("bit_gravity", ctypes.c_uint8),
        ("win_gravity", ctypes.c_uint8),
        ("backing_planes", ctypes.c_uint32),
        ("backing_pixel", ctypes.c_uint32),
        ("save_under", ctypes.c_uint8),
        ("map_is_installed", ctypes.c_uint8),
        ("map_state", ctypes.c_uint8),
        ("override_redirect", ctypes.c_uint8),
    ]


class _GeometryReply(ctypes.Structure):
    _fields_ = [
        ("response_type", ctypes.c_uint8),
        ("depth", ctypes.c_uint8),
        ("sequence", ctypes.c_uint16),
        ("length", ctypes.c_uint32),
        ("root", ctypes.c_uint32),
        ("x", ctypes.c_int16),
        ("y", ctypes.c_int16),
        ("width", ctypes.c_uint16),
        ("height", ctypes.c_uint16),
        ("border_width", ctypes.c_uint16),
    ]


class _TranslateReply(ctypes.Structure):
    _fields_ = [
        ("response_type", ctypes.c_uint8),
        ("same_screen", ctypes.c_uint8),
        ("sequence", ctypes.c_uint16),
        ("length", ctypes.c_uint32),
        ("child", ctypes.c_uint32),
        ("dst_x", ctypes.c_int16),
        ("dst_y", ctypes.c_int16),
    ]


_xcb: Any = None
_libc: Any = None


def _load_xcb() -> tuple[Any, Any]:
    global _xcb, _libc
    if _xcb is None:
        name = ctypes.util.find_library("xcb") or "libxcb.so.1"
        try:
            lib: Any = ctypes.CDLL(name)
        except OSError as exc:
            raise CaptureError(f"libxcb is not available ({exc}): cannot find windows by title") from None
        c = ctypes
        vp, u32 = c.c_void_p, c.c_uint32
        lib.xcb_connect.argtypes, lib.xcb_connect.restype = [c.c_char_p, c.POINTER(c.c_int)], vp
        lib.xcb_connection_has_error.argtypes, lib.xcb_connection_has_error.restype = [vp], c.c_int
        lib.xcb_disconnect.argtypes, lib.xcb_disconnect.restype = [vp], None
        lib.xcb_get_setup.argtypes, lib.xcb_get_setup.restype = [vp], vp
        lib.xcb_setup_roots_iterator.argtypes, lib.xcb_setup_roots_iterator.restype = [vp], _ScreenIterator
        lib.xcb_screen_next.argtypes, lib.xcb_screen_next.restype = [c.POINTER(_ScreenIterator)], None
        lib.xcb_query_tree.argtypes, lib.xcb_query_tree.restype = [vp, u32], _Cookie
        lib.xcb_query_tree_reply.argtypes = [vp, _Cookie, vp]
        lib.xcb_query_tree_reply.restype = c.POINTER(_QueryTreeReply)
        lib.xcb_query_tree_children.argtypes = [c.POINTER(_QueryTreeReply)]
        lib.xcb_query_tree_children.restype = c.POINTER(u32)
        lib.xcb_intern_atom.argtypes, lib.xcb_intern_atom.restype = [vp, c.c_uint8, c.c_uint16, c.c_char_p], _Cookie
        lib.xcb_intern_atom_reply.argtypes = [vp, _Cookie, vp]
        lib.xcb_intern_atom_reply.restype = c.POINTER(_InternAtomReply)
        lib.xcb_get_property.argtypes = [vp, c.c_uint8, u32, u32, u32, u32, u32]
        lib.xcb_get_property.restype = _Cookie
        lib.xcb_get_property_reply.argtypes, lib.xcb_get_property_reply.restype = [vp, _Cookie, vp], vp
        lib.xcb_get_property_value.argtypes, lib.xcb_get_property_value.restype = [vp], vp
        lib.xcb_get_property_value_length.argtypes, lib.xcb_get_property_value_length.restype = [vp], c.c_int
        lib.xcb_get_window_attributes.argtypes, lib.xcb_get_window_attributes.restype = [vp, u32], _Cookie
        lib.xcb_get_window_attributes_reply.argtypes = [vp, _Cookie, vp]
        lib.xcb_get_window_attributes_reply.restype = c.POINTER(_WindowAttributesReply)
        lib.xcb_get_geometry.argtypes, lib.xcb_get_geometry.restype = [vp, u32], _Cookie
        lib.xcb_get_geometry_reply.argtypes = [vp, _Cookie, vp]
        lib.xcb_get_geometry_reply.restype = c.POINTER(_GeometryReply)
        lib.xcb_translate_coordinates.argtypes = [vp, u32, u32, c.c_int16, c.c_int16]
        lib.xcb_translate_coordinates.restype = _Cookie
        lib.xcb_translate_coordinates_reply.argtypes = [vp, _Cookie, vp]
        lib.xcb_translate_coordinates_reply.restype = c.POINTER(_TranslateReply)
        libc: Any = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.free.argtypes, libc.free.restype = [vp], None
        _xcb, _libc = lib, libc
    return _xcb, _libc


class _Xcb:
    """One short-lived XCB connection with the few requests the window walk needs."""

    def __init__(self, display: str | None) -> None:
        self.lib, self.libc = _load_xcb()
        screen = ctypes.c_int(0)
        self.conn = self.lib.xcb_connect(display.encode() if display else None, ctypes.byref(screen))
        if not self.conn or self.lib.xcb_connection_has_error(self.conn):
            if self.conn:
                self.lib.xcb_disconnect(self.conn)
            raise CaptureError(f"cannot connect to the X display {display or '(DISPLAY)'}")
        iterator = self.lib.xcb_setup_roots_iterator(self.lib.xcb_get_setup(self.conn))
        for _ in range(screen.value):
            self.lib.xcb_screen_next(ctypes.byref(iterator))
        self.root = ctypes.cast(iterator.data, ctypes.POINTER(ctypes.c_uint32))[0]
        self.net_wm_name = self.atom(b"_NET_WM_NAME")

    def close(self) -> None:
        self.lib.xcb_disconnect(self.conn)

    def _reply(self, function: Any, cookie: _Cookie) -> Any:
        reply = function(self.conn, cookie, None)  # errors are dropped with the reply (NULL)
        return reply if reply else None

    def atom(self, name: bytes) -> int:
        reply = self._reply(self.lib.xcb_intern_atom_reply, self.lib.xcb_intern_atom(self.conn, 0, len(name), name))
        if reply is None:
            return 0
        try:
            return int(reply.contents.atom)
        finally:
            self.libc.free(reply)

    def children(self, window: int) -> list[int]:
        reply = self._reply(self.lib.xcb_query_tree_reply, self.lib.xcb_query_tree(self.conn, window))
        if reply is None:
            return []
        try:
            count = reply.contents.children_len
            children = self.lib.xcb_query_tree_children(reply)
            return [int(children[i]) for i in range(count)]
        finally:
            self.libc.free(reply)

    def title(self, window: int) -> str:
        for atom in (self.net_wm_name, _ATOM_WM_NAME):
            if not atom:
                continue
            cookie = self.lib.xcb_get_property(self.conn, 0, window, atom, _ANY_PROPERTY_TYPE, 0, 1024)
            reply = self._reply(self.lib.xcb_get_property_reply, cookie)
            if reply is None:
                continue
            try:
                length = self.lib.xcb_get_property_value_length(reply)
                if length > 0:
                    raw = ctypes.string_at(self.lib.xcb_get_property_value(reply), length)
                    return raw.decode("utf-8", errors="replace")
            finally:
                self.libc.free(reply)
        return ""

    def viewable(self, window: int) -> bool:
        cookie = self.lib.xcb_get_window_attributes(self.conn, window)
        reply = self._reply(self.lib.xcb_get_window_attributes_reply, cookie)
        if reply is None:
            return False
        try:
            return int(reply.contents.map_state) == _MAP_STATE_VIEWABLE
        finally:
            self.libc.free(reply)

    def region(self, window: int) -> Region | None:
        geometry = self._reply(self.lib.xcb_get_geometry_reply, self.lib.xcb_get_geometry(self.conn, window))
        if geometry is None:
            return None
        try:
            width, height = int(geometry.contents.width), int(geometry.contents.height)
        finally:
            self.libc.free(geometry)
        cookie = self.lib.xcb_translate_coordinates(self.conn, window, self.root, 0, 0)
        moved = self._reply(self.lib.xcb_translate_coordinates_reply, cookie)
        if moved is None:
            return None
        try:
            return Region(int(moved.contents.dst_x), int(moved.contents.dst_y), width, height)
        finally:
            self.libc.free(moved)


def _x11_windows(display: str | None) -> Iterator[FoundWindow]:
    xcb = _Xcb(display)
    try:
        found: list[FoundWindow] = []
        stack = [(child, 1) for child in xcb.children(xcb.root)]
        while stack:
            window, depth = stack.pop()
            if not xcb.viewable(window):
                continue
            title = xcb.title(window)
            if title:
                region = xcb.region(window)
                if region is not None:
                    found.append(FoundWindow(title, region))
            if depth < _MAX_DEPTH:
                stack.extend((child, depth + 1) for child in xcb.children(window))
        yield from found
    finally:
        xcb.close()
