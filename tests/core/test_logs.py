import logging
import logging.handlers

from diffusion_studio.core import logs


def test_setup_logging_writes_a_rotating_file_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFUSION_STUDIO_HOME", str(tmp_path))
    logger = logging.getLogger("diffusion_studio")
    logs.shutdown_logging()
    try:
        path = logs.setup_logging()
        assert path == tmp_path / "logs" / logs.LOG_NAME
        assert logs.setup_logging() == path  # idempotent
        ours = [h for h in logger.handlers if getattr(h, "_diffusion_studio", False)]
        assert len(ours) == 1 and isinstance(ours[0], logging.handlers.RotatingFileHandler)
        assert ours[0].maxBytes == logs.MAX_BYTES and ours[0].backupCount == logs.BACKUPS
        logging.getLogger("diffusion_studio.test").warning("hello log")
        ours[0].flush()
        assert "hello log" in path.read_text(encoding="utf-8")
    finally:
        logs.shutdown_logging()
    assert not [h for h in logger.handlers if getattr(h, "_diffusion_studio", False)]
