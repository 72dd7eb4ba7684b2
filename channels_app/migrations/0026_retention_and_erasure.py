# Issue 19: erasure marks on clients and conversations, retention per open channel.

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('channels_app', '0025_audit_log'),
    ]

    operations = [
        migrations.AddField(
            model_name='client',
            name='erased_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='erased'),
        ),
        migrations.AddField(
            model_name='conversation',
            name='erased_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='erased'),
        ),
        migrations.AddField(
            model_name='openchannel',
            name='retention_days',
            field=models.PositiveIntegerField(blank=True, help_text='Messages, files and notes of conversations closed longer ago than this are erased for good, every hour; the figures of the reports stay. Empty: keep conversations.', null=True, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(3650)], verbose_name='erase conversations closed more than (days) ago'),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(condition=models.Q(('erased_at__isnull', True), ('status', 'closed')), fields=['open_channel', 'closed_at'], name='conv_retention_due'),
        ),
    ]
