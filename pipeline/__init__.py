"""Code that runs in AWS: Lambda handlers, Transcribe orchestration, scoring, the CSV contract.

Everything imported by the Lambda handlers uses only the standard library and boto3, so the
function zip stays small and cold starts stay fast. Scoring (jiwer) is imported only on the
notebook instance.
"""
