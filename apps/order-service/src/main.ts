import { loadConfig } from '@orderflow/config';
import { runService } from '@orderflow/service';
import { orderConfigSchema } from './config';
import { orderService } from './service';

void runService(orderService(loadConfig(orderConfigSchema(8081))));
