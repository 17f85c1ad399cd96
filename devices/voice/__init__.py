"""Voice calls: clip-based announcements ("请 A001 号到 3 号窗口办理") with TTS fallback."""

from devices.voice.settings import VoiceSettings

__all__ = ["VoiceSettings"]
