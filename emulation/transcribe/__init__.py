"""Amazon Transcribe: moto's API with real offline speech engines behind it
(``service.TranscribeService``)."""
