import os

from django.core.wsgi import get_wsgi_application

from tracing import gc_tuning

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracing.settings")
application = get_wsgi_application()
gc_tuning.settle()  # what the web worker loaded lives as long as it: tracing.gc_tuning
