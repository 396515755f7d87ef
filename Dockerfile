FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
RUN npm install --omit=dev --no-audit --no-fund
COPY . .
RUN npm run build:playground
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "src/server.ts"]
