"""One APIRouter per module; ``api.app`` includes them all."""
